import { EventwireError } from '../core/errors.js'
import { doneResult, EndableIterator, reportUncaught } from './iterator.js'

/**
 * What a subscription does when a value arrives and its buffer already holds `size` values:
 * - `'drop-oldest'` discards the oldest buffered value and keeps the new one (the consumer sees the latest).
 * - `'drop-newest'` discards the incoming value (the consumer sees the earliest).
 * - `'error'` ends the subscription: its listener is removed, the buffer is discarded, and the next
 *   `next()` rejects with `EventwireError` code `ERR_OVERFLOW`.
 */
export type PubSubBufferPolicy = 'drop-oldest' | 'drop-newest' | 'error'

/** Passed to `onDrop` each time a full buffer discards values. */
export interface PubSubDrop {
  /** The event type of the subscription: `topic`, or `` `${topic}:${id}` `` when subscribed with an id. */
  eventType: string
  /** The policy that discarded the values. */
  policy: PubSubBufferPolicy
  /** Values discarded by this overflow: 1, or with `'error'` the whole buffer plus the incoming value. */
  count: number
}

/** Counters of one pub/sub; `stats()` returns a snapshot. */
export interface PubSubStats {
  /** Calls to `publish()`. */
  published: number
  /** Values handed to consumers by `next()`, over all subscriptions. */
  delivered: number
  /** Values discarded by full subscription buffers (see `PubSubDrop.count`). */
  dropped: number
  /** Subscriptions currently listening: subscribed and not yet returned, thrown or overflowed. */
  subscriptions: number
}

/** Shared by every subscription of one pub/sub: read once per event, never copied per subscription. */
export interface SubscriptionContext {
  readonly target: EventTarget
  readonly size: number
  readonly policy: PubSubBufferPolicy
  readonly onDrop: ((drop: PubSubDrop) => void) | undefined
  readonly stats: PubSubStats
}

type Resolve<T> = (result: IteratorResult<T, undefined>) => void

/** First ring allocation; the ring doubles from here up to `size`, so idle subscriptions stay small. */
const INITIAL_CAPACITY = 8

/**
 * One subscription: a single listener on the target feeding a bounded ring buffer, read by `next()`.
 * Hand-written rather than an async generator or a Repeater because this is the hot path: a value for a
 * waiting consumer goes straight to its resolver, a buffered value comes back as an already resolved
 * promise, and nothing but the result object and its promise is allocated per event.
 */
export class SubscriptionBuffer<T> extends EndableIterator<T> {
  readonly #context: SubscriptionContext
  readonly #eventType: string
  /** Circular buffer: `#length` values starting at `#head`, wrapping at `#ring.length` (at most `size`). */
  #ring: Array<T | undefined> = []
  #head = 0
  #length = 0
  /** The consumer waiting in `next()`. When set, the ring is empty: values go straight to it. */
  #resolve: Resolve<T> | undefined
  /** Further concurrent `next()` calls, in call order; rare, so allocated on first use. */
  #moreWaiters: Array<Resolve<T>> | undefined
  /** Set by the `'error'` policy; the next `next()` rejects with it. */
  #failure: EventwireError | undefined
  #isListening = true
  #isDone = false

  // Created once per subscription: the listener identity for add/remove, and a promise executor that
  // stores the resolver without a new closure per `next()`.
  readonly #listener = (event: Event): void => this.#push((event as CustomEvent<T>).detail)
  readonly #storeResolve = (resolve: Resolve<T>): void => {
    this.#resolve = resolve
  }

  constructor(context: SubscriptionContext, eventType: string) {
    super()
    this.#context = context
    this.#eventType = eventType
    // Added synchronously, so an event published right after subscribe() is already captured.
    context.target.addEventListener(eventType, this.#listener)
    context.stats.subscriptions++
  }

  next(): Promise<IteratorResult<T, undefined>> {
    if (this.#length > 0) {
      this.#context.stats.delivered++
      return Promise.resolve({ value: this.#shift(), done: false })
    }
    if (this.#failure !== undefined) {
      const failure = this.#failure
      this.#failure = undefined
      this.#isDone = true
      return Promise.reject(failure)
    }
    if (this.#isDone) return Promise.resolve(doneResult<T>())
    if (this.#resolve === undefined) return new Promise(this.#storeResolve)
    return new Promise((resolve) => {
      this.#moreWaiters ??= []
      this.#moreWaiters.push(resolve)
    })
  }

  protected end(): void {
    this.#end()
  }

  #push(value: T): void {
    // A target may still call a listener it was asked to remove during the same dispatch.
    if (!this.#isListening) return
    const resolve = this.#resolve
    if (resolve !== undefined) {
      this.#resolve = this.#moreWaiters?.shift()
      this.#context.stats.delivered++
      resolve({ value, done: false })
      return
    }
    const context = this.#context
    if (this.#length < context.size) {
      if (this.#length === this.#ring.length) this.#grow()
      const capacity = this.#ring.length
      const tail = this.#head + this.#length
      this.#ring[tail < capacity ? tail : tail - capacity] = value
      this.#length++
      return
    }
    switch (context.policy) {
      case 'drop-oldest': {
        // Full means `#length === size === #ring.length`: the tail slot is the head slot.
        this.#ring[this.#head] = value
        this.#head = this.#head + 1 === this.#ring.length ? 0 : this.#head + 1
        this.#dropped(1)
        return
      }
      case 'drop-newest':
        this.#dropped(1)
        return
      case 'error': {
        const count = this.#length + 1
        this.#failure = new EventwireError(
          'ERR_OVERFLOW',
          `subscription to "${this.#eventType}" overflowed its buffer of ${context.size} values`,
          { eventType: this.#eventType },
        )
        this.#stopListening()
        this.#clear()
        this.#dropped(count)
        return
      }
    }
  }

  #dropped(count: number): void {
    const context = this.#context
    context.stats.dropped += count
    if (context.onDrop === undefined) return
    // Guarded: this runs inside the target's dispatch, and a plain EventTarget turns a throwing listener
    // into an uncaught exception that ends a Node process.
    try {
      context.onDrop({ eventType: this.#eventType, policy: context.policy, count })
    } catch (error) {
      reportUncaught(
        new EventwireError('ERR_LISTENER_THREW', 'onDrop threw', {
          cause: error,
          eventType: this.#eventType,
        }),
      )
    }
  }

  #shift(): T {
    const head = this.#head
    const value = this.#ring[head] as T
    this.#ring[head] = undefined
    this.#head = head + 1 === this.#ring.length ? 0 : head + 1
    this.#length--
    return value
  }

  #grow(): void {
    const old = this.#ring
    const capacity = Math.min(this.#context.size, Math.max(INITIAL_CAPACITY, old.length * 2))
    const ring = new Array<T | undefined>(capacity)
    for (let i = 0; i < this.#length; i++) {
      const index = this.#head + i
      ring[i] = old[index < old.length ? index : index - old.length]
    }
    this.#ring = ring
    this.#head = 0
  }

  #clear(): void {
    this.#ring = []
    this.#head = 0
    this.#length = 0
  }

  #stopListening(): void {
    if (!this.#isListening) return
    this.#isListening = false
    this.#context.target.removeEventListener(this.#eventType, this.#listener)
    this.#context.stats.subscriptions--
  }

  #end(): void {
    this.#stopListening()
    this.#clear()
    this.#failure = undefined
    this.#isDone = true
    const resolve = this.#resolve
    const more = this.#moreWaiters
    this.#resolve = undefined
    this.#moreWaiters = undefined
    resolve?.(doneResult<T>())
    if (more !== undefined) for (const waiter of more) waiter(doneResult<T>())
  }
}
