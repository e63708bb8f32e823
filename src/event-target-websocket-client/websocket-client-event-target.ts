import { DEFAULTS } from '../core/defaults.js'
import { EventwireError, invalidOption } from '../core/errors.js'
import { CLOSE_FORBIDDEN, CLOSE_UNAUTHORIZED, closeWebSocket, type Link, messageText } from '../core/link.js'
import { readLimitsWithOldNames, readPositiveInteger } from '../core/options.js'
import { Spoke, type SpokeConnector, type SpokeOptions } from '../core/spoke.js'
import type { NetworkEventTarget, TypedEvent } from '../core/types.js'

/** The slice of the web `WebSocket` this client uses; the `ws` package's class fits too. */
export interface WebSocketInstance {
  readonly readyState: number
  readonly bufferedAmount: number
  binaryType: string
  onopen: ((event: unknown) => void) | null
  onmessage: ((event: { data: unknown }) => void) | null
  onclose: ((event: { code: number; reason: string }) => void) | null
  onerror: ((event: unknown) => void) | null
  send(data: string): void
  close(code?: number, reason?: string): void
}

export type WebSocketConstructor = new (
  url: string,
  protocols?: string | string[],
  // The `ws` package takes client options (headers, agent, …) as a third argument.
  options?: Record<string, unknown>,
) => WebSocketInstance

export interface WebSocketClientEventTargetOptions<TEvent extends TypedEvent = TypedEvent>
  extends Omit<SpokeOptions<string, TEvent>, 'connect' | 'codec' | 'peer'> {
  /**
   * The hub's URL (`ws:` or `wss:`), or several: each reconnect tries the next one, so spokes move to
   * another hub when theirs is gone. Or a function called before every attempt, which may fetch a fresh
   * token first: `url: async () => `wss://hub.example/ws?token=${await getToken()}``.
   */
  url: string | URL | ReadonlyArray<string | URL> | UrlProvider
  /** WebSocket subprotocols to offer, or a function called before every attempt that returns them. */
  protocols?: string | string[] | ProtocolsProvider
  /**
   * The WebSocket class. @default `globalThis.WebSocket`, else the `ws` package (Node 20 has no global
   * WebSocket)
   */
  WebSocket?: WebSocketConstructor
  /** Options for the `ws` package's constructor (e.g. `headers` for authentication); ignored by browsers. */
  wsOptions?: Record<string, unknown>
  /** An attempt that has not opened after this long is abandoned and retried, in ms. @default 10_000 */
  connectTimeoutMs?: number
  /**
   * Largest message accepted from the hub, in bytes.
   * @deprecated Use `limits.maxFrameBytes`, as on every target.
   */
  maxPayload?: number
}

/** Gives the URL for the next connection attempt (called before each one). */
export type UrlProvider = () => string | URL | Promise<string | URL>
/** Gives the subprotocols for the next connection attempt (called before each one). */
export type ProtocolsProvider = () => string | string[] | Promise<string | string[]>

export type WebSocketClientEventTarget<TEvent extends TypedEvent = TypedEvent> = NetworkEventTarget<TEvent>

const OPEN = 1

/**
 * A spoke over WebSocket, in browsers and Node: reconnects with jittered backoff, resubscribes, reports a
 * `gap` after each reconnect, pings to detect dead links, and can queue while offline.
 */
export function createWebSocketClientEventTarget<TEvent extends TypedEvent = TypedEvent>(
  options: WebSocketClientEventTargetOptions<TEvent>,
): WebSocketClientEventTarget<TEvent> {
  if (typeof options !== 'object' || options === null) invalidOption('options', 'an object', options)
  const urlProvider = typeof options.url === 'function' ? options.url : undefined
  const urls = urlProvider === undefined ? readUrls(options.url) : []
  const protocolsProvider = typeof options.protocols === 'function' ? options.protocols : undefined
  const connectTimeoutMs = readPositiveInteger(
    'connectTimeoutMs',
    options.connectTimeoutMs,
    DEFAULTS.connectTimeoutMs,
  )
  const limits = readLimitsWithOldNames(options.limits, {
    maxFrameBytes: { name: 'maxPayload', value: options.maxPayload },
  })
  if (options.WebSocket !== undefined && typeof options.WebSocket !== 'function') {
    invalidOption('WebSocket', 'a WebSocket class', options.WebSocket)
  }
  let attempt = 0
  const connect: SpokeConnector = async (handlers, signal) => {
    const WebSocketClass = options.WebSocket ?? (await platformWebSocket())
    const url =
      urlProvider === undefined ? urls[attempt++ % urls.length]! : readUrls(await provided(urlProvider))[0]!
    const protocols =
      protocolsProvider === undefined
        ? (options.protocols as string | string[] | undefined)
        : await provided(protocolsProvider)
    // Errors and statuses name the hub without its query string or user info: tokens go there.
    const hub = redactUrl(url)
    return new Promise<Link>((resolve, reject) => {
      const socket = new WebSocketClass(url, protocols, options.wsOptions)
      socket.binaryType = 'arraybuffer'
      let isOpen = false
      /** The HTTP status that refused the upgrade, where the platform tells it (the `ws` package). */
      let refusedStatus: number | undefined
      const timer = setTimeout(() => {
        reject(new EventwireError('ERR_TIMEOUT', `no connection to ${hub} within ${connectTimeoutMs} ms`))
        socket.close()
      }, connectTimeoutMs)
      const onAbort = () => socket.close()
      signal.addEventListener('abort', onAbort, { once: true })
      socket.onopen = () => {
        isOpen = true
        clearTimeout(timer)
        resolve({
          send: (data) => {
            if (socket.readyState === OPEN) socket.send(data)
          },
          close: (code, reason) => closeWebSocket(socket, code, reason),
          bufferedBytes: () => socket.bufferedAmount,
        })
      }
      socket.onmessage = (event) => handlers.receive(messageText(event.data))
      socket.onclose = (event) => {
        clearTimeout(timer)
        signal.removeEventListener('abort', onAbort)
        const refusal = refusalError(hub, event.code, refusedStatus)
        if (isOpen) handlers.closed({ code: event.code, reason: event.reason, error: refusal })
        else
          reject(
            refusal ??
              new EventwireError('ERR_CONNECTION', `could not connect to ${hub} (close code ${event.code})`),
          )
      }
      // An error is always followed by a close, which reports it.
      socket.onerror = (event) => {
        const message = String((event as { message?: unknown } | undefined)?.message ?? '')
        const status = /Unexpected server response: (\d{3})/.exec(message)?.[1]
        if (status !== undefined) refusedStatus = Number(status)
      }
    })
  }
  return new Spoke<TEvent>({ ...options, connect, limits })
}

/** The hub refused this client (close 4401 or 4403, or HTTP 401 or 403 where readable), else undefined. */
function refusalError(hub: string, code: number, status: number | undefined): EventwireError | undefined {
  if (code === CLOSE_UNAUTHORIZED || status === 401) {
    return new EventwireError('ERR_UNAUTHORIZED', `the hub at ${hub} refused this client's credentials`)
  }
  if (code === CLOSE_FORBIDDEN || status === 403) {
    return new EventwireError('ERR_UNAUTHORIZED', `the hub at ${hub} does not allow this client's origin`)
  }
  return undefined
}

/** Calls a provider; what it throws or rejects with becomes a connection error (retried with backoff). */
async function provided<T>(provider: () => T | Promise<T>): Promise<Awaited<T>> {
  try {
    return await provider()
  } catch (cause) {
    throw new EventwireError('ERR_CONNECTION', 'the url or protocols provider failed', { cause })
  }
}

/** A URL as it may appear in errors and logs: no user info, no query string, no fragment. */
function redactUrl(url: string | URL): string {
  try {
    const parsed = new URL(String(url))
    return `${parsed.protocol}//${parsed.host}${parsed.pathname}`
  } catch {
    return '(an invalid URL)'
  }
}

function readUrls(value: unknown): string[] {
  const list = Array.isArray(value) ? value : [value]
  if (list.length === 0) invalidOption('url', 'a ws: or wss: URL, or a non-empty list of them', value)
  return list.map((item) => {
    let url: URL
    try {
      url = new URL(String(item))
    } catch {
      invalidOption('url', 'a ws: or wss: URL', item)
    }
    if (url.protocol !== 'ws:' && url.protocol !== 'wss:') invalidOption('url', 'a ws: or wss: URL', item)
    return url.href
  })
}

let loadedWs: Promise<WebSocketConstructor> | undefined

/** The platform's WebSocket, or the `ws` package where there is none (Node 20). */
async function platformWebSocket(): Promise<WebSocketConstructor> {
  const global = (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket
  if (global !== undefined) return global
  // Only Node 20 gets here, never a browser: bundlers must leave this import alone. A computed specifier
  // keeps esbuild and Rollup from resolving `ws`; the comments tell webpack (which would warn "Critical
  // dependency: the request of a dependency is an expression") and Vite not to analyze it.
  const specifier = 'ws'
  loadedWs ??= import(/* webpackIgnore: true */ /* @vite-ignore */ specifier).then(
    (module: { WebSocket?: WebSocketConstructor; default?: WebSocketConstructor }) => {
      const found = module.WebSocket ?? module.default
      if (found === undefined)
        throw new EventwireError('ERR_CONNECTION', 'the ws package has no WebSocket export')
      return found
    },
    (cause: unknown) => {
      loadedWs = undefined
      throw new EventwireError('ERR_CONNECTION', 'no WebSocket on this platform: install the ws package', {
        cause,
      })
    },
  )
  return loadedWs
}
