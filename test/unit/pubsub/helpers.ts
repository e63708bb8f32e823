import { waitFor } from '../../../src/testing/wait-for.js'

/** Reads exactly `count` values, failing (rather than hanging) if they do not arrive in time. */
export async function take<T>(iterator: AsyncIterator<T>, count: number, timeoutMs = 2_000): Promise<T[]> {
  const values: T[] = []
  const deadline = Date.now() + timeoutMs
  while (values.length < count) {
    const result = await withTimeout(iterator.next(), deadline - Date.now())
    if (result.done) break
    values.push(result.value)
  }
  return values
}

/** Reads until the iterator ends. */
export async function drain<T>(iterator: AsyncIterable<T>, timeoutMs = 2_000): Promise<T[]> {
  const values: T[] = []
  const it = iterator[Symbol.asyncIterator]()
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const result = await withTimeout(it.next(), deadline - Date.now())
    if (result.done) return values
    values.push(result.value)
  }
}

export function withTimeout<T>(promise: Promise<T>, timeoutMs: number): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`not settled within ${timeoutMs} ms`)), Math.max(0, timeoutMs))
  })
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer))
}

/** Resolves true if `promise` settles within a few macrotasks; used to assert "still pending". */
export async function isSettledSoon(promise: Promise<unknown>): Promise<boolean> {
  let isSettled = false
  promise.then(
    () => {
      isSettled = true
    },
    () => {
      isSettled = true
    },
  )
  for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve))
  return isSettled
}

/**
 * A source that yields `values`, then stays quiet forever (its pending `next()` never settles), and
 * records `return()` calls: the case where an async generator's `return()` would hang.
 */
export function quietSource<T>(values: T[] = []) {
  const calls = { next: 0, return: 0 }
  let index = 0
  const source: AsyncIterableIterator<T> = {
    next() {
      calls.next++
      if (index < values.length) return Promise.resolve({ value: values[index++] as T, done: false })
      return new Promise(() => {})
    },
    return() {
      calls.return++
      return Promise.resolve({ value: undefined, done: true })
    },
    [Symbol.asyncIterator]() {
      return this
    },
  }
  return { source, calls }
}

export async function* fromArray<T>(values: T[]): AsyncGenerator<T> {
  for (const value of values) yield value
}

export { waitFor }
