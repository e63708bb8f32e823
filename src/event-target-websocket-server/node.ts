import type { IncomingMessage, Server } from 'node:http'
import type { Duplex } from 'node:stream'
import type { WebSocketServer } from 'ws'
import { EventwireError, invalidOption } from '../core/errors.js'
import { CLOSE_FORBIDDEN, CLOSE_UNAUTHORIZED } from '../core/link.js'
import type { WsSocketLike } from './socket.js'

export interface AttachOptions {
  /** The URL path that upgrades to the hub; other paths are left to other `upgrade` listeners. @default '/' */
  path?: string
}

export interface Attachment {
  /** Stops accepting upgrades on the server (open sockets stay with the hub until it closes). */
  close(): void
}

/**
 * Why an upgrade was refused, or the principal it admitted. A malformed request (400) is refused in HTTP;
 * an unauthenticated (401) or forbidden (403) client gets a socket closed at once with 4401 or 4403,
 * which browsers can read (they cannot read the status of a refused upgrade).
 */
export type Admission<TPrincipal = unknown> =
  | { ok: true; principal: TPrincipal }
  | { ok: false; status: 400 | 401 | 403 }

/** The close code that tells a client why it was refused. */
export function refusalCloseCode(status: 401 | 403): number {
  return status === 401 ? CLOSE_UNAUTHORIZED : CLOSE_FORBIDDEN
}

interface AttachHooks {
  /** Largest message the socket layer buffers; see `socketMaxPayload`. */
  maxPayload: number
  admit(request: IncomingMessage): Promise<Admission>
  accept(socket: WsSocketLike, principal: unknown): void
  onError(error: EventwireError): void
}

type UpgradeHandler = (request: IncomingMessage, socket: Duplex, head: Buffer) => void

/** The hub paths attached to one server, behind one `upgrade` listener of ours. */
interface Routes {
  readonly paths: Map<string, UpgradeHandler>
  readonly listener: UpgradeHandler
}

const routesByServer = new WeakMap<Server, Routes>()

export const STATUS_TEXT = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
} as const

/**
 * Plain Node: handles `upgrade` on `path` with a `ws` server in noServer mode, so the application keeps its
 * own HTTP server and routes. Origin and authentication are checked before the handshake completes; a
 * refusal is an HTTP status on the raw socket, and no WebSocket ever opens. Every hub attached to one
 * server shares one `upgrade` listener, so an upgrade on a path no hub serves, or one whose request
 * target cannot be read, is answered (404, 400) unless another `upgrade` listener is there to take it.
 */
export function attachToServer(server: Server, options: AttachOptions, hooks: AttachHooks): Attachment {
  const path = options.path ?? '/'
  if (typeof path !== 'string' || !path.startsWith('/')) {
    invalidOption('path', 'a URL path starting with "/"', path)
  }
  let routes = routesByServer.get(server)
  if (routes?.paths.has(path)) invalidOption('path', 'a path no other hub on this server serves', path)
  const serving = createWsServer(hooks.maxPayload)
  serving.catch((error: EventwireError) => hooks.onError(error))
  const onUpgrade: UpgradeHandler = (request, socket, head) => {
    Promise.all([hooks.admit(request), serving])
      .then(([admission, wss]) => {
        if (admission.ok) {
          wss.handleUpgrade(request, socket, head, (ws) =>
            hooks.accept(ws as unknown as WsSocketLike, admission.principal),
          )
          return
        }
        const { status } = admission
        if (status === 400) return refuse(socket, status)
        wss.handleUpgrade(request, socket, head, (ws) =>
          ws.close(refusalCloseCode(status), STATUS_TEXT[status]),
        )
      })
      .catch(() => socket.destroy())
  }
  if (routes === undefined) {
    const paths = new Map<string, UpgradeHandler>()
    routes = { paths, listener: (request, socket, head) => route(server, paths, request, socket, head) }
    routesByServer.set(server, routes)
    server.on('upgrade', routes.listener)
  }
  routes.paths.set(path, onUpgrade)
  const attached = routes
  return {
    close: () => {
      if (attached.paths.get(path) !== onUpgrade) return
      attached.paths.delete(path)
      if (attached.paths.size === 0) {
        server.off('upgrade', attached.listener)
        routesByServer.delete(server)
      }
      serving.then(
        (wss) => wss.close(),
        () => {},
      )
    },
  }
}

/** Hands an upgrade to the hub serving its path; nothing a request carries may throw out of here. */
function route(
  server: Server,
  paths: Map<string, UpgradeHandler>,
  request: IncomingMessage,
  socket: Duplex,
  head: Buffer,
): void {
  const pathname = requestPath(request.url)
  const handler = pathname === undefined ? undefined : paths.get(pathname)
  if (handler !== undefined) {
    // A socket error (a reset mid-handshake) must not become an uncaught 'error' event.
    socket.on('error', () => socket.destroy())
    handler(request, socket, head)
    return
  }
  // Someone else listens for upgrades: the request is theirs, readable or not.
  if (server.listenerCount('upgrade') > 1) return
  socket.on('error', () => socket.destroy())
  refuse(socket, pathname === undefined ? 400 : 404)
}

/** The path of a request target (origin form or absolute form); undefined when it cannot be read. */
function requestPath(target: string | undefined): string | undefined {
  if (target === undefined) return undefined
  try {
    return new URL(target, 'http://localhost').pathname
  } catch {
    return undefined
  }
}

/** Answers an upgrade with an HTTP status and ends the socket; no WebSocket opens. */
function refuse(socket: Duplex, status: keyof typeof STATUS_TEXT): void {
  if (socket.destroyed) return
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_TEXT[status]}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`,
    () => socket.destroy(),
  )
}

/**
 * `ws` is loaded here, when a plain Node server is attached, and nowhere else: a hub served through Hono
 * on Bun or Deno, or handed sockets with `add`, runs without the package.
 */
async function createWsServer(maxPayload: number): Promise<WebSocketServer> {
  try {
    const { WebSocketServer: Server } = await import('ws')
    return new Server({ noServer: true, maxPayload })
  } catch (cause) {
    throw new EventwireError('ERR_CONNECTION', 'attach() needs the ws package: npm install ws', { cause })
  }
}
