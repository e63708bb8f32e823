import { invalidOption } from '../../core/errors.js'
import { readOptionsObject, readPositiveInteger } from '../../core/options.js'
import { type PubSubIterator, returnSource } from '../iterator.js'
import { OperatorIterator } from './operator-iterator.js'

export interface BatchOptions {
  /**
   * Emit a batch as soon as it holds this many values. Give `size`, `timeMs` or both.
   * @default undefined (no size limit: `timeMs` alone decides)
   * @see timeMs
   */
  size?: number
  /**
   * Emit a batch this many milliseconds after its first value arrived, however few values it holds.
   * @default undefined (no time limit: a batch waits for `size` values or the end of the source)
   * @see size
   */
  timeMs?: number
}

/**
 * Groups values into arrays: a batch is emitted when it holds `size` values or `timeMs` after its first
 * value, whichever comes first; the remainder is emitted when the source ends. Batches are collected
 * while the consumer waits, so a slow consumer gets full batches rather than a growing backlog. The
 * returned iterator's `return()` clears the timer and returns the source at once.
 */
export function batch<T>(options: BatchOptions): (source: AsyncIterable<T>) => PubSubIterator<T[]> {
  const opts = readOptionsObject(options, 'batch')
  if (options === undefined || (opts.size === undefined && opts.timeMs === undefined)) {
    invalidOption('batch options', 'an object with size, timeMs or both', options)
  }
  const size = readPositiveInteger('size', opts.size, Number.POSITIVE_INFINITY)
  const timeMs = readPositiveInteger('timeMs', opts.timeMs, Number.POSITIVE_INFINITY)
  return (source) => new BatchIterator(source[Symbol.asyncIterator](), size, timeMs)
}

/** Resolved by the batch timer; compared by identity so no source value can be mistaken for it. */
const TIMED_OUT: unique symbol = Symbol('timed out')

class BatchIterator<T> extends OperatorIterator<T[]> {
  readonly #source: AsyncIterator<T>
  readonly #size: number
  readonly #timeMs: number
  /** A source `next()` still pending when the timer emitted a batch: its value opens the next batch. */
  #inFlight: Promise<IteratorResult<T>> | undefined
  #timer: ReturnType<typeof setTimeout> | undefined
  #isSourceDone = false

  constructor(source: AsyncIterator<T>, size: number, timeMs: number) {
    super()
    this.#source = source
    this.#size = size
    this.#timeMs = timeMs
  }

  protected async produce(): Promise<IteratorResult<T[], undefined>> {
    const items: T[] = []
    let deadline: Promise<typeof TIMED_OUT> | undefined
    try {
      while (!this.#isSourceDone && !this.isDone) {
        this.#inFlight ??= this.#source.next()
        const result =
          deadline === undefined ? await this.#inFlight : await Promise.race([this.#inFlight, deadline])
        if (result === TIMED_OUT) break
        this.#inFlight = undefined
        if (result.done) {
          this.#isSourceDone = true
          break
        }
        items.push(result.value)
        if (items.length >= this.#size) break
        if (items.length === 1 && this.#timeMs !== Number.POSITIVE_INFINITY) {
          deadline = new Promise((resolve) => {
            this.#timer = setTimeout(resolve, this.#timeMs, TIMED_OUT)
          })
        }
      }
    } finally {
      this.#clearTimer()
    }
    return items.length > 0 ? { value: items, done: false } : { value: undefined, done: true }
  }

  protected onRelease(): void {
    this.#clearTimer()
    if (!this.#isSourceDone) returnSource(this.#source)
  }

  #clearTimer(): void {
    if (this.#timer === undefined) return
    clearTimeout(this.#timer)
    this.#timer = undefined
  }
}
