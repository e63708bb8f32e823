import { readFunction, readOptionsObject, readPositiveInteger } from '../../core/options.js'
import { type PubSubIterator, returnSource } from '../iterator.js'
import { OperatorIterator } from './operator-iterator.js'

export interface DedupeOptions {
  /**
   * How many of the most recently passed keys a new value is compared with. `1` drops only consecutive
   * duplicates, which suits state topics (`on, off, on` all pass); a larger window drops redeliveries by
   * id. Memory is bounded by this many keys.
   * @default 1
   */
  windowSize?: number
}

/**
 * Drops a value whose key (`keyFn(value)`, by default the value itself, compared with `SameValueZero`)
 * equals the key of one of the last `windowSize` values passed. The returned iterator's `return()`
 * returns the source at once.
 */
export function dedupe<T>(
  keyFn?: (value: T) => unknown,
  options?: DedupeOptions,
): (source: AsyncIterable<T>) => PubSubIterator<T> {
  const readKey = readFunction<(value: T) => unknown>('keyFn', keyFn)
  const windowSize = readPositiveInteger(
    'windowSize',
    readOptionsObject(options, 'dedupe').windowSize,
    DEFAULT_WINDOW_SIZE,
  )
  return (source) => new DedupeIterator(source[Symbol.asyncIterator](), readKey, windowSize)
}

const DEFAULT_WINDOW_SIZE = 1

class DedupeIterator<T> extends OperatorIterator<T> {
  readonly #source: AsyncIterator<T>
  readonly #keyFn: ((value: T) => unknown) | undefined
  /** The keys of the last passed values, for lookup; `#order` is the same keys, oldest first. */
  readonly #seen = new Set<unknown>()
  /** Ring of the keys in `#seen` in the order they passed; `#next` is where the following key goes. */
  readonly #order: unknown[] = []
  readonly #windowSize: number
  #next = 0

  constructor(source: AsyncIterator<T>, keyFn: ((value: T) => unknown) | undefined, windowSize: number) {
    super()
    this.#source = source
    this.#keyFn = keyFn
    this.#windowSize = windowSize
  }

  protected async produce(): Promise<IteratorResult<T, undefined>> {
    while (!this.isDone) {
      const result = await this.#source.next()
      if (result.done) break
      const key = this.#keyFn === undefined ? result.value : this.#keyFn(result.value)
      if (this.#seen.has(key)) continue
      this.#remember(key)
      return result
    }
    return { value: undefined, done: true }
  }

  protected onRelease(): void {
    returnSource(this.#source)
  }

  #remember(key: unknown): void {
    if (this.#order.length === this.#windowSize) this.#seen.delete(this.#order[this.#next])
    this.#order[this.#next] = key
    this.#seen.add(key)
    this.#next = this.#next + 1 === this.#windowSize ? 0 : this.#next + 1
  }
}
