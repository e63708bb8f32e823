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
 * way the platform reports an uncaught listener error (`reportError` in browsers, stderr elsewhere), never
 * swallowed and never thrown into the event loop, at most 10 a second per target (the next one says how
 * many were held back), so a retry loop or a burst cannot flood the log.
 */
export function createErrorSink(onError: ErrorSink | undefined, stats: EventwireStats): ErrorSink {
  const reportDefault = createPeerReporter(reportUnhandled)
  return (error) => {
    stats.errors++
    if (onError === undefined) {
      reportDefault(error)
      return
    }
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

/**
 * Reports an error that has no `onError` to reach: `reportError` in browsers; elsewhere one line on stderr
 * (code, message and the cause's message), with a stack only where it is the application's (a listener
 * that threw), so a failure that repeats is one line each time, not a page.
 */
export function reportUnhandled(error: EventwireError): void {
  const report = (globalThis as { reportError?: (error: unknown) => void }).reportError
  // Only in a browser: Deno and Bun have `reportError` too, but there it ends the process.
  if (typeof report === 'function' && isBrowser()) {
    report(error)
    return
  }
  const cause = error.cause
  if (error.code === 'ERR_LISTENER_THREW' && cause instanceof Error) {
    console.error(`eventwire ${error.code}: ${error.message}\n${cause.stack ?? String(cause)}`)
    return
  }
  const why = cause === undefined ? '' : ` (${cause instanceof Error ? cause.message : String(cause)})`
  console.error(`eventwire ${error.code}: ${error.message}${why}`)
}

/** Reports caused by one peer that reach `onError` per second; the rest are counted and summed up. */
const PEER_REPORTS_PER_SECOND = 10
/** Characters of a peer's own error text kept in a report. */
const PEER_TEXT_LENGTH = 200

/**
 * Bounds what one peer can make this node report: at most 10 errors a second reach `report`, and the
 * next one that does says how many were held back meanwhile. Returns false for a report held back, so
 * the caller can skip the matching error frame too.
 */
export function createPeerReporter(report: ErrorSink): (error: EventwireError) => boolean {
  let windowStart = 0
  let inWindow = 0
  let heldBack = 0
  return (error) => {
    const now = Date.now()
    if (now - windowStart >= 1000) {
      windowStart = now
      inWindow = 0
    }
    if (inWindow >= PEER_REPORTS_PER_SECOND) {
      heldBack++
      return false
    }
    inWindow++
    if (heldBack > 0) {
      const note = ` (and ${heldBack} more reports from this peer held back)`
      heldBack = 0
      error = new EventwireError(error.code, error.message + note, {
        cause: error.cause,
        eventType: error.eventType,
      })
    }
    report(error)
    return true
  }
}

/**
 * An error frame a peer sent, as this node reports it: always `ERR_REMOTE`, so a peer can never pose as a
 * local `ERR_UNAUTHORIZED` or `ERR_LIMIT`; the peer's code and its text, cut short, are in the message.
 */
export function remoteError(who: string, code: string, text: string, eventType?: string): EventwireError {
  const shown = text.length > PEER_TEXT_LENGTH ? `${text.slice(0, PEER_TEXT_LENGTH)}…` : text
  return new EventwireError('ERR_REMOTE', `${who} reported ${code}: ${JSON.stringify(shown)}`, { eventType })
}

function isBrowser(): boolean {
  const scope = globalThis as { document?: unknown; importScripts?: unknown; Deno?: unknown; Bun?: unknown }
  return (
    (scope.document !== undefined || typeof scope.importScripts === 'function') &&
    scope.Deno === undefined &&
    scope.Bun === undefined
  )
}
