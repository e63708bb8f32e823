import type { CloneFrame } from '../core/codec.js'
import { EventwireError, invalidOption } from '../core/errors.js'
import { CLOSE_GOING_AWAY, CLOSE_INTERNAL_ERROR, type Link, type LinkCloseInfo } from '../core/link.js'

// --- types ---

// Listener signatures differ per event name on Node's emitters and per event type on the web's targets.
// biome-ignore lint/suspicious/noExplicitAny: the listener signature EventEmitter declares
type AnyListener = (...args: any[]) => void

/**
 * A Node `worker_threads` endpoint: a `Worker` (main side) or a `MessagePort` (`parentPort`, or either end
 * of a `MessageChannel`). Node's message events carry the value itself.
 */
export interface NodeWorkerEndpoint {
  postMessage(value: unknown): void
  on(event: string, listener: AnyListener): unknown
  off(event: string, listener: AnyListener): unknown
}

/**
 * A web endpoint: a `Worker` (page side), the worker's global scope (`self`), a `MessagePort`, or a
 * `BroadcastChannel`. Web message events carry the value in `event.data`.
 */
export interface WebWorkerEndpoint {
  postMessage(message: unknown): void
  addEventListener(type: string, listener: AnyListener): void
  removeEventListener(type: string, listener: AnyListener): void
}

/** Anything `createWorkerEventTarget` and `WorkerHubEventTarget.add` accept. */
export type WorkerEndpoint = NodeWorkerEndpoint | WebWorkerEndpoint

/** What an endpoint link reports to the core side that drives it. */
export interface EndpointHandlers {
  /** A message arrived (validated by the core's codec, not here). */
  receive(data: unknown): void
  /** The other side is gone (worker exited, port closed); called once, after our listeners are removed. */
  closed(info: LinkCloseInfo): void
  /** Something went wrong that does not end the link by itself (a worker's uncaught error). */
  error(error: EventwireError): void
  /** A message from the other side could not be deserialized (`messageerror`): it is lost. */
  lost(error: EventwireError): void
}

// --- detection ---

export function isBroadcastChannel(endpoint: unknown): endpoint is BroadcastChannel {
  return typeof BroadcastChannel === 'function' && endpoint instanceof BroadcastChannel
}

function isNodeStyle(endpoint: object): endpoint is NodeWorkerEndpoint {
  const candidate = endpoint as Partial<NodeWorkerEndpoint>
  return typeof candidate.on === 'function' && typeof candidate.off === 'function'
}

function isWebStyle(endpoint: object): endpoint is WebWorkerEndpoint {
  const candidate = endpoint as Partial<WebWorkerEndpoint>
  return (
    typeof candidate.addEventListener === 'function' && typeof candidate.removeEventListener === 'function'
  )
}

/** Throws `ERR_INVALID_OPTION` unless `endpoint` can post and receive messages. */
export function assertEndpoint(endpoint: unknown): asserts endpoint is WorkerEndpoint {
  if (
    typeof endpoint !== 'object' ||
    endpoint === null ||
    typeof (endpoint as { postMessage?: unknown }).postMessage !== 'function' ||
    !(isNodeStyle(endpoint) || isWebStyle(endpoint))
  ) {
    invalidOption('endpoint', 'a Worker, MessagePort, BroadcastChannel or worker global scope', endpoint)
  }
}

// --- link ---

/**
 * Turns an endpoint into a structured-clone link: `send` is `postMessage` (a `DataCloneError` propagates,
 * so the core's link writer can report the one event that could not be cloned and send the rest), and
 * the end of the other side is detected where the platform says so:
 * - Node `Worker`: `exit` (after an `error` event for an uncaught exception, which is reported first;
 *   listening to `error` is also what keeps the worker's crash from crashing this thread);
 * - `MessagePort`: `close` (always in Node; in browsers where `MessagePort` has a close event).
 * A web `Worker` has no end signal: close the target, or remove it from the hub, when you terminate it.
 * `close()` and the end of the other side remove every listener this link added; the endpoint itself is
 * never closed or terminated here: it belongs to the caller.
 */
export function openEndpointLink(endpoint: WorkerEndpoint, handlers: EndpointHandlers): Link<CloneFrame> {
  let isOpen = true
  let crash: EventwireError | undefined

  const onMessage = (data: unknown) => {
    if (isOpen) handlers.receive(data)
  }
  const onMessageError = (cause: unknown) => {
    if (isOpen) {
      handlers.lost(
        new EventwireError('ERR_SERIALIZE', 'a message from the other side could not be deserialized', {
          cause,
        }),
      )
    }
  }
  const end = (info: LinkCloseInfo) => {
    if (!isOpen) return
    detach()
    handlers.closed(info)
  }
  const onWorkerError = (cause: unknown) => {
    if (!isOpen) return
    // Node emits `exit` right after, once the worker's last messages have been delivered.
    crash = new EventwireError('ERR_CONNECTION', 'the worker threw an uncaught error', { cause })
    handlers.error(crash)
  }
  const onExit = (exitCode: number) => {
    end({
      code: crash === undefined ? CLOSE_GOING_AWAY : CLOSE_INTERNAL_ERROR,
      reason: `worker exited with code ${exitCode}`,
      ...(crash === undefined ? {} : { error: crash }),
    })
  }
  const onClose = () => end({ code: CLOSE_GOING_AWAY, reason: 'port closed' })

  let detach: () => void
  if (isNodeStyle(endpoint)) {
    const listeners: Array<[string, AnyListener]> = [
      ['message', onMessage],
      ['messageerror', onMessageError],
      ['error', onWorkerError],
      ['exit', onExit],
      ['close', onClose],
    ]
    for (const [event, listener] of listeners) endpoint.on(event, listener)
    detach = () => {
      isOpen = false
      for (const [event, listener] of listeners) endpoint.off(event, listener)
    }
  } else {
    const onWebMessage = (event: MessageEvent) => onMessage(event.data)
    const onWebMessageError = (event: MessageEvent) => onMessageError(event.data)
    const listeners: Array<[string, AnyListener]> = [
      ['message', onWebMessage],
      ['messageerror', onWebMessageError],
      ['close', onClose],
    ]
    for (const [event, listener] of listeners)
      endpoint.addEventListener(event, listener)
      // A MessagePort delivers nothing to addEventListener listeners until started (onmessage starts it).
    ;(endpoint as { start?: () => void }).start?.()
    detach = () => {
      isOpen = false
      for (const [event, listener] of listeners) endpoint.removeEventListener(event, listener)
    }
  }

  return {
    send: (frame) => {
      if (isOpen) endpoint.postMessage(frame)
    },
    close: () => {
      if (isOpen) detach()
    },
  }
}
