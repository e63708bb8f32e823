import type { IncomingMessage, Server } from 'node:http'
import { DEFAULTS } from '../core/defaults.js'
import { EventwireError, invalidOption } from '../core/errors.js'
import {
  Hub,
  type HubConnection,
  type HubConnectionInfo,
  type HubOptions,
  type WhenSubscribedOptions,
} from '../core/hub.js'
import { closeWebSocket, messageText } from '../core/link.js'
import { readFunction, readLimitsWithOldNames, readOptionsObject } from '../core/options.js'
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

/**
 * Options of the WebSocket hub. `TPrincipal` is what `authenticate` admits a client with, and what
 * `authorize`, `onConnection` and `onDisconnection` see; TypeScript infers it from `authenticate` when
 * the call gives no type arguments (write `authenticate` before the callbacks that use the principal:
 * TypeScript reads an object's functions in order).
 */
export interface WebSocketServerEventTargetOptions<
  TPrincipal = unknown,
  TEvent extends TypedEvent = TypedEvent,
> extends Omit<HubOptions<string, TPrincipal, TEvent>, 'codec' | 'nodeId'> {
  /**
   * Runs at the upgrade. Return the principal (any value but `null`, `undefined` and `false`, handed to
   * `authorize` and `onConnection`). Returning `null`, `undefined` or `false`, or throwing, refuses the
   * client: its socket is closed at once with 4401, which browsers and Node clients alike can read.
   * @default everyone admitted, principal `undefined`
   */
  authenticate?: (
    request: Request,
  ) => TPrincipal | null | undefined | false | Promise<TPrincipal | null | undefined | false>
  /**
   * Browser origins allowed to connect. A request whose `Origin` header is not listed is refused: its
   * socket is closed at once with 4403, before any frame is read. Requests without an `Origin`
   * (non-browser clients) are not affected.
   * @default any origin
   */
  allowedOrigins?: readonly string[]
  /**
   * Largest message accepted from a spoke, in bytes.
   * @deprecated Use `limits.maxFrameBytes`, as on every target.
   */
  maxPayload?: number
  /**
   * Longest event type accepted.
   * @deprecated Use `limits.maxTypeLength`, as on every target.
   */
  maxTypeLength?: number
  /** Origin id of events dispatched on the hub. @default random */
  nodeId?: string
}

/**
 * The slice of a Hono `Context` the hub reads. The Hono types are not imported (here and below), so that
 * these declarations compile without `hono` installed: a hub served by `attach()` needs only `ws`.
 */
export interface HonoContextLike {
  readonly req: { readonly raw: Request }
}

/** The slice of Hono's `WSContext` (the socket handed to the event handlers) the hub uses. */
export interface HonoWebSocketLike {
  readonly readyState: number
  /** The runtime's own socket, read for its `bufferedAmount`. */
  readonly raw?: unknown
  send(data: string): void
  close(code?: number, reason?: string): void
}

/** The event handlers the hub hands to Hono's `upgradeWebSocket`. */
export interface HonoWebSocketEvents {
  onOpen?: (event: unknown, ws: HonoWebSocketLike) => void
  onMessage?: (event: { readonly data: unknown }, ws: HonoWebSocketLike) => void
  onClose?: (event: { readonly code: number; readonly reason: string }, ws: HonoWebSocketLike) => void
  onError?: (event: unknown, ws: HonoWebSocketLike) => void
}

/**
 * Hono's `upgradeWebSocket` of a runtime (`@hono/node-server`, `hono/bun`, `hono/deno`), in the form the
 * hub calls it: `upgradeWebSocket(context, events)`. Declared as a method so that its parameters compare
 * both ways, which lets Hono's `Context` stand for `HonoContextLike`.
 */
export type HonoUpgradeWebSocket = {
  upgradeWebSocket(
    context: HonoContextLike,
    events: HonoWebSocketEvents,
  ): Response | undefined | Promise<Response | undefined>
}['upgradeWebSocket']

/** The route handler `upgrade()` returns, for `app.get(path, handler)`. */
export type HonoMiddleware = (
  context: HonoContextLike,
  next: () => Promise<void>,
) => Promise<Response | undefined>

/**
 * The hub: a target of its own plus the ways spokes get in. `TPrincipal` is the type of the principals
 * (see `WebSocketServerEventTargetOptions`).
 */
export interface WebSocketServerEventTarget<TEvent extends TypedEvent = TypedEvent, TPrincipal = unknown>
  extends NetworkEventTarget<TEvent> {
  readonly nodeId: string
  /** Serves spokes on a plain Node `http.Server` (upgrades on `path`), with the `ws` package. */
  attach(server: Server, options?: AttachOptions): Attachment
  /**
   * A Hono handler for the WebSocket route: `app.get('/ws', hub.upgrade(upgradeWebSocket))`, with the
   * `upgradeWebSocket` of your runtime (`@hono/node-server`, `hono/bun`, `hono/deno`).
   */
  upgrade(upgradeWebSocket: HonoUpgradeWebSocket): HonoMiddleware
  /**
   * Adds an already upgraded socket (`ws` or web-standard `WebSocket`) from your own framework;
   * `authenticate` does not run, so give the principal here. Every hub hands a connection over with
   * `add`.
   */
  add(socket: unknown, options?: { principal?: TPrincipal }): HubConnectionInfo<TPrincipal>
  /** @deprecated Use `add`, the verb of every hub. */
  acceptSocket(socket: unknown, options?: { principal?: TPrincipal }): HubConnectionInfo<TPrincipal>
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

/**
 * Creates a WebSocket hub. The principal type is inferred from `authenticate` when no type arguments are
 * given; with the event type given, give the principal type too (`<AppEvent, User>`), since TypeScript
 * infers none of the type arguments once one is written.
 */
export function createWebSocketServerEventTarget<
  TEvent extends TypedEvent = TypedEvent,
  TPrincipal = unknown,
>(
  options?: WebSocketServerEventTargetOptions<TPrincipal, TEvent>,
): WebSocketServerEventTarget<TEvent, TPrincipal> {
  return new WebSocketHub<TEvent, TPrincipal>(options)
}

class WebSocketHub<TEvent extends TypedEvent, TPrincipal>
  extends Hub<TEvent, string, TPrincipal>
  implements WebSocketServerEventTarget<TEvent, TPrincipal>
{
  readonly #authenticate: WebSocketServerEventTargetOptions<TPrincipal>['authenticate']
  readonly #allowedOrigins: ReadonlySet<string> | undefined
  readonly #maxPayload: number
  readonly #attachments = new Set<Attachment>()

  constructor(options?: WebSocketServerEventTargetOptions<TPrincipal, TEvent>) {
    const opts = readOptionsObject(options, 'createWebSocketServerEventTarget')
    const limits = readLimitsWithOldNames(opts.limits, {
      maxFrameBytes: { name: 'maxPayload', value: opts.maxPayload },
      maxTypeLength: { name: 'maxTypeLength', value: opts.maxTypeLength },
    })
    super({ ...opts, idleTimeoutMs: opts.idleTimeoutMs ?? DEFAULTS.networkIdleTimeoutMs, limits })
    this.#maxPayload = limits.maxFrameBytes
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
      // The principal is what `#admit` returned for this upgrade.
      accept: (socket, principal) => this.#acceptWs(socket, principal as TPrincipal),
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

  upgrade(upgradeWebSocket: HonoUpgradeWebSocket): HonoMiddleware {
    return async (context) => {
      const admission = await this.#admit(context.req.raw)
      if (!admission.ok) {
        const { status } = admission
        if (status === 400) return new Response(STATUS_TEXT[status], { status })
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

  acceptSocket(socket: unknown, options: { principal?: TPrincipal } = {}): HubConnectionInfo<TPrincipal> {
    return this.add(socket, options)
  }

  add(socket: unknown, options: { principal?: TPrincipal } = {}): HubConnectionInfo<TPrincipal> {
    if (isWsSocket(socket)) return this.#acceptWs(socket, options.principal)
    if (isWebSocket(socket)) {
      const connection = this.accept(socketLink(socket), options)
      wireWebSocket(socket, connection)
      return connection.info
    }
    throw new TypeError('add: expected a ws WebSocket or a web-standard WebSocket')
  }

  override async close(): Promise<void> {
    for (const attachment of [...this.#attachments]) attachment.close()
    this.#attachments.clear()
    await super.close()
  }

  #acceptWs(
    socket: Parameters<typeof wireWsSocket>[0],
    principal: TPrincipal | undefined,
  ): HubConnectionInfo<TPrincipal> {
    const connection = this.accept(socketLink(socket), { principal })
    wireWsSocket(socket, connection)
    return connection.info
  }

  async #admit(request: Request | undefined): Promise<Admission<TPrincipal>> {
    if (request === undefined) return { ok: false, status: 400 }
    const origin = request.headers.get('origin')
    if (origin !== null && this.#allowedOrigins !== undefined && !this.#allowedOrigins.has(origin)) {
      return { ok: false, status: 403 }
    }
    // Without `authenticate`, `TPrincipal` is `unknown` unless the caller typed it: every client is admitted.
    if (this.#authenticate === undefined) return { ok: true, principal: undefined as TPrincipal }
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
function wsContextLink(ws: HonoWebSocketLike) {
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
