/**
 * Received events handed to local listeners at most `DELIVERY_SLICE` in one task (one macrotask).
 *
 * A consumer that reads events through promises (a `for await` loop over a pub/sub subscription, yoga's
 * Repeater) runs between two tasks, not between two listener calls: whatever one synchronous run
 * delivers piles up in front of it. Yoga's Repeater refuses the 1025th value pending on one
 * subscription, so a burst received at once (one large batch, or many messages read from one socket
 * chunk) was lost past that. Here received messages are delivered synchronously, as before, while a
 * task's deliveries stay within `DELIVERY_SLICE` events; past that they follow in macrotasks, a slice
 * each, and everything received meanwhile queues behind them, so order is kept.
 */
export const DELIVERY_SLICE = 256

/** The next macrotask: after pending I/O and every microtask, so promise-driven consumers drain first. */
const nextTask: (callback: () => void) => void =
  typeof globalThis.setImmediate === 'function'
    ? globalThis.setImmediate
    : (callback) => setTimeout(callback, 0)

/** A settled promise: `then` on it is the cheapest way to run something at the end of the task. */
const settled = Promise.resolve()

/** Slots of delivered entries kept at the front of the queue before it is compacted. */
const COMPACT_AT = 4096

/**
 * The owner asks `admit(n)` before delivering the `n` events of a received message, and delivers that
 * many of them at once, inline, as before (the common case costs one check per message). It `push`es
 * the rest as one entry, `(a, b, from, to)`: events `from` to `to` (exclusive) of its container `a`,
 * which `deliver` is later called with, a slice at a time, behind whatever already waits.
 */
export class DeliveryPacer<A, B = undefined> {
  readonly #deliver: (a: A, b: B, from: number, to: number) => void
  /** Events delivered in the current task; reset at the end of it. */
  #used = 0
  /** Waiting entries, four slots each (a, b, from, to), oldest from `#head`. */
  #queue: unknown[] = []
  #head = 0
  /** Events in the waiting entries. */
  #pending = 0
  /** Macrotasks scheduled to deliver a slice each. */
  #scheduled = 0
  readonly #endTask = (): void => {
    this.#used = 0
  }
  readonly #drain = (): void => this.#drainSlice()

  constructor(deliver: (a: A, b: B, from: number, to: number) => void) {
    this.#deliver = deliver
  }

  /** Events waiting for a later task. */
  get pending(): number {
    return this.#pending
  }

  /**
   * How many of `count` events to deliver now: as many as this task's slice has room for, or none while
   * earlier ones wait. The caller delivers those itself and `push`es the rest, in order.
   */
  admit(count: number): number {
    if (this.#pending > 0) return 0
    const used = this.#used
    const admitted = Math.min(count, DELIVERY_SLICE - used)
    if (admitted <= 0) return 0
    if (used === 0) settled.then(this.#endTask)
    this.#used = used + admitted
    return admitted
  }

  /**
   * Queues events `from` to `to` of `a` behind what waits. Macrotasks are scheduled at once, one per
   * slice, so the platform runs them one after another with the microtasks (the consumers) in between:
   * a backlog is delivered in the next turn of the event loop, not one slice per turn.
   */
  push(a: A, b: B, from: number, to: number): void {
    if (to <= from) return
    this.#queue.push(a, b, from, to)
    this.#pending += to - from
    this.#schedule()
  }

  /** Forgets what waits (the owner closed). */
  clear(): void {
    this.#queue = []
    this.#head = 0
    this.#pending = 0
  }

  #schedule(): void {
    const needed = Math.ceil(this.#pending / DELIVERY_SLICE)
    while (this.#scheduled < needed) {
      this.#scheduled++
      nextTask(this.#drain)
    }
  }

  #drainSlice(): void {
    this.#scheduled--
    const queue = this.#queue
    let room = DELIVERY_SLICE - this.#used
    while (room > 0 && this.#head < queue.length) {
      const at = this.#head
      const from = queue[at + 2] as number
      const to = queue[at + 3] as number
      const end = to - from > room ? from + room : to
      if (end === to) this.#head = at + 4
      else queue[at + 2] = end
      if (this.#used === 0) settled.then(this.#endTask)
      this.#used += end - from
      this.#pending -= end - from
      room -= end - from
      this.#deliver(queue[at] as A, queue[at + 1] as B, from, end)
      // The owner cleared the queue from inside a listener (it closed).
      if (this.#queue !== queue) return
    }
    if (this.#head === queue.length) {
      this.#queue = []
      this.#head = 0
      return
    }
    if (this.#head >= COMPACT_AT) {
      this.#queue = queue.slice(this.#head)
      this.#head = 0
    }
    // This macrotask's slice ran short (the task had delivered already): schedule what is missing.
    this.#schedule()
  }
}
