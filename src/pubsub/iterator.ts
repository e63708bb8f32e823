import { EventwireError } from '../core/errors.js'
import { reportUnhandled } from '../core/report.js'

/**
 * What `subscribe()` and every operator return: an async iterator that is its own iterable, with
 * `return()` and `throw()` always present so a consumer can stop it at any time, even while a `next()`
 * is pending. Assignable to `AsyncIterableIterator<T>` and to yoga's `Repeater` type, usable in
 * `for await`, and disposable (`await using`, `using`): disposing ends it like `return()`.
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
  /** Ends the iterator like `return()`: `await using updates = pubSub.subscribe('user:updated')`. */
  [Symbol.asyncDispose](): Promise<IteratorResult<T, undefined>>
  /** Ends the iterator like `return()`, synchronously: `using updates = pubSub.subscribe(...)`. */
  [Symbol.dispose](): void
}

declare global {
  // As lib.esnext.disposable and @types/node declare them, for projects that have neither (a page with
  // the ES2022 and DOM libs): the disposal members of `PubSubIterator` are named by these symbols.
  interface SymbolConstructor {
    readonly asyncDispose: unique symbol
    readonly dispose: unique symbol
  }
}

/**
 * `Symbol.asyncDispose` and `Symbol.dispose`, or where the runtime has none yet, the registered symbols
 * that polyfills and compilers' `using` helpers look for.
 */
export const asyncDisposeSymbol: typeof Symbol.asyncDispose =
  Symbol.asyncDispose ?? (Symbol.for('Symbol.asyncDispose') as typeof Symbol.asyncDispose)
export const disposeSymbol: typeof Symbol.dispose =
  Symbol.dispose ?? (Symbol.for('Symbol.dispose') as typeof Symbol.dispose)

/**
 * The ending half of every `PubSubIterator` (subscriptions and operators): `return()`, `throw()`, both
 * disposals and being its own iterable, all through one `end()`, so they cannot drift apart.
 */
export abstract class EndableIterator<T> implements PubSubIterator<T> {
  abstract next(): Promise<IteratorResult<T, undefined>>
  /** Ends the iterator now: settles pending `next()` calls with `{ done: true }` and releases its source. */
  protected abstract end(): void

  return(): Promise<IteratorResult<T, undefined>> {
    this.end()
    return Promise.resolve(doneResult<T>())
  }

  throw(error?: unknown): Promise<IteratorResult<T, undefined>> {
    this.end()
    return Promise.reject(error)
  }

  [Symbol.asyncIterator](): this {
    return this
  }

  [asyncDisposeSymbol](): Promise<IteratorResult<T, undefined>> {
    return this.return()
  }

  [disposeSymbol](): void {
    this.end()
  }
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
