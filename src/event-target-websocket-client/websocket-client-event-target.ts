import { EventwireError, invalidOption } from '../core/errors.js'
import { closeWebSocket, type Link, messageText } from '../core/link.js'
import { readPositiveInteger } from '../core/options.js'
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

export interface WebSocketClientEventTargetOptions
  extends Omit<SpokeOptions, 'connect' | 'codec' | 'peer' | 'limits'> {
  /**
   * The hub's URL (`ws:` or `wss:`), or several: each reconnect tries the next one, so spokes move to
   * another hub when theirs is gone.
   */
  url: string | URL | ReadonlyArray<string | URL>
  /** WebSocket subprotocols to offer. */
  protocols?: string | string[]
  /**
   * The WebSocket class. @default `globalThis.WebSocket`, else the `ws` package (Node 20 has no global
   * WebSocket)
   */
  WebSocket?: WebSocketConstructor
  /** Options for the `ws` package's constructor (e.g. `headers` for authentication); ignored by browsers. */
  wsOptions?: Record<string, unknown>
  /** An attempt that has not opened after this long is abandoned and retried, in ms. @default 10_000 */
  connectTimeoutMs?: number
  /** Largest message accepted from the hub, in bytes. @default 4 MiB */
  maxPayload?: number
}

export type WebSocketClientEventTarget<TEvent extends TypedEvent = TypedEvent> =
  NetworkEventTarget<TEvent> & {
    readonly nodeId: string
  }

const OPEN = 1

/**
 * A spoke over WebSocket, in browsers and Node: reconnects with jittered backoff, resubscribes, reports a
 * `gap` after each reconnect, pings to detect dead links, and can queue while offline.
 */
export function createWebSocketClientEventTarget<TEvent extends TypedEvent = TypedEvent>(
  options: WebSocketClientEventTargetOptions,
): WebSocketClientEventTarget<TEvent> {
  if (typeof options !== 'object' || options === null) invalidOption('options', 'an object', options)
  const urls = readUrls(options.url)
  const connectTimeoutMs = readPositiveInteger('connectTimeoutMs', options.connectTimeoutMs, 10_000)
  const maxFrameBytes = readPositiveInteger('maxPayload', options.maxPayload, 4 * 1024 * 1024)
  if (options.WebSocket !== undefined && typeof options.WebSocket !== 'function') {
    invalidOption('WebSocket', 'a WebSocket class', options.WebSocket)
  }
  let attempt = 0
  const connect: SpokeConnector = async (handlers, signal) => {
    const WebSocketClass = options.WebSocket ?? (await platformWebSocket())
    const url = urls[attempt++ % urls.length]!
    return new Promise<Link>((resolve, reject) => {
      const socket = new WebSocketClass(url, options.protocols, options.wsOptions)
      socket.binaryType = 'arraybuffer'
      let isOpen = false
      const timer = setTimeout(() => {
        reject(new EventwireError('ERR_TIMEOUT', `no connection to ${url} within ${connectTimeoutMs} ms`))
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
        if (isOpen) handlers.closed({ code: event.code, reason: event.reason })
        else
          reject(
            new EventwireError('ERR_CONNECTION', `could not connect to ${url} (close code ${event.code})`),
          )
      }
      // An error is always followed by a close, which reports it.
      socket.onerror = () => {}
    })
  }
  return new Spoke<TEvent>({ ...options, connect, limits: { maxFrameBytes } })
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
  // A computed specifier keeps browser bundlers from trying to bundle `ws`.
  const specifier = 'ws'
  loadedWs ??= import(specifier).then(
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
