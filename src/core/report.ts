import { EventwireError } from './errors.js'
import type { EventwireStats, EventwireStatus } from './types.js'

/** Fresh counters, all zero. */
export function createStats(): EventwireStats {
  return {
    dispatched: 0,
    delivered: 0,
    sent: 0,
    received: 0,
    dropped: 0,
    connections: 0,
    subscriptions: 0,
    reconnects: 0,
    errors: 0,
  }
}

export type ErrorSink = (error: EventwireError) => void

/**
 * Routes asynchronous errors to `onError` and counts them. Without `onError` the error is reported the
 * way the platform reports an uncaught listener error (`reportError` in browsers, stderr in Node), never
 * swallowed and never thrown into the event loop.
 */
export function createErrorSink(onError: ErrorSink | undefined, stats: EventwireStats): ErrorSink {
  return (error) => {
    stats.errors++
    if (onError === undefined) return reportUnhandled(error)
    try {
      onError(error)
    } catch (thrown) {
      reportUnhandled(new EventwireError('ERR_LISTENER_THREW', 'onError threw', { cause: thrown }))
      reportUnhandled(error)
    }
  }
}

/** Calls `onStatus` guarded: a throwing status handler is an error, not a crash. */
export function createStatusSink(
  onStatus: ((status: EventwireStatus) => void) | undefined,
  reportError: ErrorSink,
): (status: EventwireStatus) => void {
  if (onStatus === undefined) return () => {}
  return (status) => {
    try {
      onStatus(status)
    } catch (thrown) {
      reportError(new EventwireError('ERR_LISTENER_THREW', 'onStatus threw', { cause: thrown }))
    }
  }
}

/** Reports an error that has no `onError` to reach: `reportError` in browsers, stderr in Node. */
export function reportUnhandled(error: EventwireError): void {
  const report = (globalThis as { reportError?: (error: unknown) => void }).reportError
  if (typeof report === 'function') report(error)
  else console.error(error)
}
