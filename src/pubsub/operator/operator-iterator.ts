import { doneResult, EndableIterator } from '../iterator.js'

interface Waiter<T> {
  resolve(result: IteratorResult<T, undefined>): void
  reject(error: unknown): void
}

/**
 * The base of every operator: a hand-written iterator, because an async generator's `return()` waits
 * for its pending `next()`, which on a quiet topic never settles. Here `return()` settles pending
 * `next()` calls with `{ done: true }` and releases the sources at once, whatever is in flight.
 *
 * A subclass implements `produce()` (pull until there is one output value, or done) and `onRelease()`
 * (return its sources, clear its timers). `produce()` runs only while a consumer waits, one call at a
 * time, so operators add no buffering of their own.
 */
export abstract class OperatorIterator<T> extends EndableIterator<T> {
  readonly #waiters: Array<Waiter<T>> = []
  #isPumping = false
  #isDone = false
  #isReleased = false

  /** Pulls from the sources until one output value is ready, or the output has ended. */
  protected abstract produce(): Promise<IteratorResult<T, undefined>>
  /** Returns every source not yet finished and clears timers. Called once. */
  protected abstract onRelease(): void

  /** True once `return()`/`throw()` was called or the output ended: `produce()` should stop pulling. */
  protected get isDone(): boolean {
    return this.#isDone
  }

  next(): Promise<IteratorResult<T, undefined>> {
    if (this.#isDone) return Promise.resolve(doneResult<T>())
    return new Promise((resolve, reject) => {
      this.#waiters.push({ resolve, reject })
      if (!this.#isPumping) void this.#pump()
    })
  }

  protected end(): void {
    this.#finish()
  }

  /** Releases the sources now, while the output may still have values to give (`take` after its n-th). */
  protected release(): void {
    if (this.#isReleased) return
    this.#isReleased = true
    this.onRelease()
  }

  async #pump(): Promise<void> {
    this.#isPumping = true
    try {
      while (this.#waiters.length > 0 && !this.#isDone) {
        const result = await this.produce()
        // Returned while producing: the waiters were settled by #finish, the value has no one to go to.
        if (this.#isDone) return
        if (result.done) {
          this.#finish()
          return
        }
        this.#waiters.shift()!.resolve(result)
      }
    } catch (error) {
      // A source that rejects after we returned it is only reporting the cancellation we asked for.
      if (this.#isDone) return
      const waiter = this.#waiters.shift()!
      this.#finish()
      waiter.reject(error)
    } finally {
      this.#isPumping = false
    }
  }

  #finish(): void {
    if (this.#isDone) return
    this.#isDone = true
    this.release()
    const waiters = this.#waiters.splice(0)
    for (const waiter of waiters) waiter.resolve(doneResult<T>())
  }
}
