import { EventwireError } from '../core/errors.js'
import { reportUnhandled } from '../core/report.js'

/**
 * What `subscribe()` and every operator return: an async iterator that is its own iterable, with
 * `return()` and `throw()` always present so a consumer can stop it at any time, even while a `next()`
 * is pending. Assignable to `AsyncIterableIterator<T>` and usable in `for await`.
 */
export interface PubSubIterator<T> extends AsyncIterator<T, undefined, unknown> {
  /** Resolves with the next value, or `{ done: true }` once the iterator has ended. */
  next(): Promise<IteratorResult<T, undefined>>
  /**
   * Ends the iterator now: pending `next()` calls resolve `{ done: true }` and the underlying listener
   * or source is released before this returns.
   */
  return(value?: unknown): Promise<IteratorResult<T, undefined>>
  /** Ends the iterator like `return()`, then rejects with `error`. */
  throw(error?: unknown): Promise<IteratorResult<T, undefined>>
  [Symbol.asyncIterator](): PubSubIterator<T>
}

/** A fresh `{ done: true }` result; fresh because a consumer may keep or mutate what it receives. */
export function doneResult<T>(): IteratorResult<T, undefined> {
  return { value: undefined, done: true }
}

export function isPromiseLike(value: unknown): value is PromiseLike<unknown> {
  return (
    value !== null &&
    (typeof value === 'object' || typeof value === 'function') &&
    typeof (value as { then?: unknown }).then === 'function'
  )
}

/**
 * Reports an error that has no caller to reach, the way the platform reports an uncaught listener error
 * (`reportError`, or stderr in Node): never swallowed, never thrown into the event loop.
 */
export const reportUncaught: (error: EventwireError) => void = reportUnhandled

/**
 * Calls `source.return()` without waiting for it. Waiting is not an option: an async generator's
 * `return()` settles only after its pending `next()` does, which on a quiet topic is never. A rejection
 * has no caller left to reach, so it is reported as uncaught rather than swallowed.
 */
export function returnSource(source: AsyncIterator<unknown>): void {
  let settled: unknown
  try {
    settled = source.return?.()
  } catch (error) {
    reportReturnError(error)
    return
  }
  if (isPromiseLike(settled)) settled.then(undefined, reportReturnError)
}

function reportReturnError(error: unknown): void {
  reportUncaught(new EventwireError('ERR_CLOSED', "a source iterator's return() failed", { cause: error }))
}
