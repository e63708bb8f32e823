import type { IncomingMessage, Server } from 'node:http'
import type { Context, MiddlewareHandler } from 'hono'
import type { UpgradeWebSocket, WSContext } from 'hono/ws'
import { EventwireError, invalidOption } from '../core/errors.js'
import {
  Hub,
  type HubConnection,
  type HubConnectionInfo,
  type HubOptions,
  type WhenSubscribedOptions,
} from '../core/hub.js'
import { closeWebSocket, messageText } from '../core/link.js'
import { readFunction, readOptionsObject, readPositiveInteger } from '../core/options.js'
import type { NetworkEventTarget, TypedEvent, TypedEventTarget } from '../core/types.js'
import {
  type Admission,
  type Attachment,
  type AttachOptions,
  attachToServer,
  refusalCloseCode,
  STATUS_TEXT,
} from './node.js'
import {
  isWebSocket,
  isWsSocket,
  socketFailed,
  socketLink,
  socketMaxPayload,
  wireWebSocket,
  wireWsSocket,
} from './socket.js'

export interface WebSocketServerEventTargetOptions extends Omit<HubOptions, 'codec' | 'limits' | 'nodeId'> {
  /**
   * Runs at the upgrade. Return the principal (any value but `null`, `undefined` and `false`, handed to
   * `authorize` and `onConnection`). Returning `null`, `undefined` or `false`, or throwing, refuses the
   * client: its socket is closed at once with 4401, which browsers and Node clients alike can read.
   * @default everyone admitted, principal `undefined`
   */
  authenticate?: (request: Request) => unknown
  /**
   * Browser origins allowed to connect. A request whose `Origin` header is not listed is refused: its
   * socket is closed at once with 4403, before any frame is read. Requests without an `Origin`
   * (non-browser clients) are not affected.
   * @default any origin
   */
  allowedOrigins?: readonly string[]
  /**
   * Largest message accepted from a spoke, in bytes; a larger one closes that socket with 1009.
   * @default 4 MiB
   */
  maxPayload?: number
  /** Longest event type accepted. @default 256 */
  maxTypeLength?: number
  /** Origin id of events dispatched on the hub. @default random */
  nodeId?: string
}

/** The hub: a target of its own plus the ways spokes get in. */
export interface WebSocketServerEventTarget<TEvent extends TypedEvent = TypedEvent>
  extends NetworkEventTarget<TEvent> {
  readonly nodeId: string
  /** Serves spokes on a plain Node `http.Server` (upgrades on `path`), with the `ws` package. */
  attach(server: Server, options?: AttachOptions): Attachment
  /**
   * A Hono handler for the WebSocket route: `app.get('/ws', hub.upgrade(upgradeWebSocket))`, with the
   * `upgradeWebSocket` of your runtime (`@hono/node-server`, `hono/bun`, `hono/deno`).
   */
  upgrade(upgradeWebSocket: UpgradeWebSocket<unknown>): MiddlewareHandler
  /** Takes over an already upgraded socket (`ws` or web-standard `WebSocket`) from your own framework. */
  acceptSocket(socket: unknown, options?: { principal?: unknown }): HubConnectionInfo
  /** One spoke as a target: dispatch to it alone, hear what it publishes. @see Hub.connectionTarget */
  connectionTarget(id: string): TypedEventTarget<TEvent> | undefined
  /** The types some spoke currently subscribes to. */
  remoteTypes(): string[]
  /**
   * Resolves once at least `count` spokes subscribe to `type` (at once if they already do): dispatch
   * after it and they all receive the event. Rejects with `ERR_TIMEOUT` after `timeoutMs`, and with
   * `ERR_CLOSED` when the hub closes first.
   */
  whenSubscribed(type: string, options?: WhenSubscribedOptions): Promise<void>
}

const DEFAULT_MAX_PAYLOAD = 4 * 1024 * 1024
/** Spokes ping every 15 s by default: three missed pings close the socket. */
const DEFAULT_IDLE_TIMEOUT_MS = 45_000

export function createWebSocketServerEventTarget<TEvent extends TypedEvent = TypedEvent>(
  options?: WebSocketServerEventTargetOptions,
): WebSocketServerEventTarget<TEvent> {
  return new WebSocketHub<TEvent>(options)
}

class WebSocketHub<TEvent extends TypedEvent>
  extends Hub<TEvent>
  implements WebSocketServerEventTarget<TEvent>
{
  readonly #authenticate: ((request: Request) => unknown) | undefined
  readonly #allowedOrigins: ReadonlySet<string> | undefined
  readonly #maxPayload: number
  readonly #attachments = new Set<Attachment>()

  constructor(options?: WebSocketServerEventTargetOptions) {
    const opts = readOptionsObject(options, 'createWebSocketServerEventTarget')
    const maxPayload = readPositiveInteger('maxPayload', opts.maxPayload, DEFAULT_MAX_PAYLOAD)
    super({
      ...opts,
      idleTimeoutMs: opts.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS,
      limits: { maxFrameBytes: maxPayload, maxTypeLength: opts.maxTypeLength },
    })
    this.#maxPayload = maxPayload
    this.#authenticate = readFunction('authenticate', opts.authenticate)
    if (opts.allowedOrigins !== undefined) {
      if (!Array.isArray(opts.allowedOrigins) || !opts.allowedOrigins.every((o) => typeof o === 'string')) {
        invalidOption('allowedOrigins', 'an array of origin strings', opts.allowedOrigins)
      }
      this.#allowedOrigins = new Set(opts.allowedOrigins)
    }
  }

  attach(server: Server, options?: AttachOptions): Attachment {
    const attachment = attachToServer(server, options ?? {}, {
      maxPayload: socketMaxPayload(this.#maxPayload),
      admit: (request) => this.#admit(toRequest(request)),
      accept: (socket, principal) => this.#acceptWs(socket, principal),
      onError: (error) => this.report(error),
    })
    this.#attachments.add(attachment)
    return {
      close: () => {
        this.#attachments.delete(attachment)
        attachment.close()
      },
    }
  }

  upgrade(upgradeWebSocket: UpgradeWebSocket<unknown>): MiddlewareHandler {
    return async (context: Context) => {
      const admission = await this.#admit(context.req.raw)
      if (!admission.ok) {
        const { status } = admission
        if (status === 400) return context.text(STATUS_TEXT[status], status)
        return upgradeWebSocket(context, {
          onOpen: (_event, ws) => closeWebSocket(ws, refusalCloseCode(status), STATUS_TEXT[status]),
        })
      }
      let connection: HubConnection | undefined
      return upgradeWebSocket(context, {
        onOpen: (_event, ws) => {
          connection = this.accept(wsContextLink(ws), { principal: admission.principal })
        },
        onMessage: (event) => connection?.receive(messageText(event.data)),
        onClose: (event) => connection?.closed({ code: event.code, reason: event.reason }),
        onError: (event) => {
          // On Node the runtime's socket is a `ws` one, whose error (an oversized message) is on the event.
          if (connection !== undefined)
            socketFailed(connection, (event as { error?: unknown }).error ?? event)
        },
      })
    }
  }

  acceptSocket(socket: unknown, options: { principal?: unknown } = {}): HubConnectionInfo {
    if (isWsSocket(socket)) return this.#acceptWs(socket, options.principal)
    if (isWebSocket(socket)) {
      const connection = this.accept(socketLink(socket), options)
      wireWebSocket(socket, connection)
      return connection.info
    }
    throw new TypeError('accept: expected a ws WebSocket or a web-standard WebSocket')
  }

  override async close(): Promise<void> {
    for (const attachment of [...this.#attachments]) attachment.close()
    this.#attachments.clear()
    await super.close()
  }

  #acceptWs(socket: Parameters<typeof wireWsSocket>[0], principal: unknown): HubConnectionInfo {
    const connection = this.accept(socketLink(socket), { principal })
    wireWsSocket(socket, connection)
    return connection.info
  }

  async #admit(request: Request | undefined): Promise<Admission> {
    if (request === undefined) return { ok: false, status: 400 }
    const origin = request.headers.get('origin')
    if (origin !== null && this.#allowedOrigins !== undefined && !this.#allowedOrigins.has(origin)) {
      return { ok: false, status: 403 }
    }
    if (this.#authenticate === undefined) return { ok: true, principal: undefined }
    try {
      const principal = await this.#authenticate(request)
      // `users.get(token)` for an unknown token is undefined: that is a refusal, not an anonymous user.
      if (principal === false || principal === null || principal === undefined)
        return { ok: false, status: 401 }
      return { ok: true, principal }
    } catch (cause) {
      this.report(new EventwireError('ERR_UNAUTHORIZED', 'authenticate refused an upgrade', { cause }))
      return { ok: false, status: 401 }
    }
  }
}

/** Hono's `WSContext` has no `bufferedAmount`: read it from the runtime's socket (`raw`). */
function wsContextLink(ws: WSContext<unknown>) {
  const raw = ws.raw as { bufferedAmount?: number; getBufferedAmount?: () => number } | undefined
  return {
    send: (data: string) => {
      if (ws.readyState === 1) ws.send(data)
    },
    close: (code: number, reason: string) => closeWebSocket(ws, code, reason),
    bufferedBytes: () => raw?.bufferedAmount ?? raw?.getBufferedAmount?.() ?? 0,
  }
}

/**
 * The upgrade request as a web `Request`, so `authenticate` has one signature on every runtime; undefined
 * when the request cannot be one (a `Host` or request target that is no URL), which is answered with 400.
 */
function toRequest(incoming: IncomingMessage): Request | undefined {
  try {
    const headers = new Headers()
    for (const [name, value] of Object.entries(incoming.headers)) {
      if (Array.isArray(value)) for (const item of value) headers.append(name, item)
      else if (value !== undefined) headers.set(name, value)
    }
    const target = incoming.url ?? '/'
    const url = target.startsWith('/')
      ? new URL(`http://${incoming.headers.host ?? 'localhost'}${target}`)
      : new URL(target)
    return new Request(url, { headers })
  } catch {
    return undefined
  }
}
