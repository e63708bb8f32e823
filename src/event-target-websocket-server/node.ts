import type { IncomingMessage, Server } from 'node:http'
import type { Duplex } from 'node:stream'
import type { WebSocketServer } from 'ws'
import { EventwireError } from '../core/errors.js'
import type { WsSocketLike } from './socket.js'

export interface AttachOptions {
  /** The URL path that upgrades to the hub; other paths are left to other `upgrade` listeners. @default '/' */
  path?: string
}

export interface Attachment {
  /** Stops accepting upgrades on the server (open sockets stay with the hub until it closes). */
  close(): void
}

interface AttachHooks {
  maxPayload: number
  admit(
    request: IncomingMessage,
  ): Promise<{ ok: true; principal: unknown } | { ok: false; status: number; message: string }>
  accept(socket: WsSocketLike, principal: unknown): void
  onError(error: EventwireError): void
}

/**
 * Plain Node: handles `upgrade` on `path` with a `ws` server in noServer mode, so the application keeps its
 * own HTTP server and routes. Origin and authentication are checked before the handshake completes; a
 * refusal is an HTTP status on the raw socket, and no WebSocket ever opens.
 */
export function attachToServer(server: Server, options: AttachOptions, hooks: AttachHooks): Attachment {
  const path = options.path ?? '/'
  const serving = createWsServer(hooks.maxPayload)
  serving.catch((error: EventwireError) => hooks.onError(error))
  const onUpgrade = (request: IncomingMessage, socket: Duplex, head: Buffer) => {
    if (new URL(request.url ?? '/', 'http://localhost').pathname !== path) return
    socket.on('error', () => socket.destroy())
    Promise.all([hooks.admit(request), serving]).then(
      ([admission, wss]) => {
        if (!admission.ok) {
          socket.end(
            `HTTP/1.1 ${admission.status} ${admission.message}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`,
          )
          return
        }
        wss.handleUpgrade(request, socket, head, (ws) =>
          hooks.accept(ws as unknown as WsSocketLike, admission.principal),
        )
      },
      () => socket.destroy(),
    )
  }
  server.on('upgrade', onUpgrade)
  return {
    close: () => {
      server.off('upgrade', onUpgrade)
      serving.then(
        (wss) => wss.close(),
        () => {},
      )
    },
  }
}

/**
 * `ws` is loaded here, when a plain Node server is attached, and nowhere else: a hub served through Hono
 * on Bun or Deno, or handed sockets with `acceptSocket`, runs without the package.
 */
async function createWsServer(maxPayload: number): Promise<WebSocketServer> {
  try {
    const { WebSocketServer: Server } = await import('ws')
    return new Server({ noServer: true, maxPayload })
  } catch (cause) {
    throw new EventwireError('ERR_CONNECTION', 'attach() needs the ws package: npm install ws', { cause })
  }
}
