import { invalidOption } from '../../core/errors.js'
import { type PubSubIterator, returnSource } from '../iterator.js'
import { OperatorIterator } from './operator-iterator.js'

/**
 * Passes the first `count` values, then ends. The source is returned as soon as the `count`-th value is
 * handed out (at once for `take(0)`), so a subscription stops listening without waiting for another
 * `next()`.
 */
export function take<T>(count: number): (source: AsyncIterable<T>) => PubSubIterator<T> {
  if (typeof count !== 'number' || !Number.isSafeInteger(count) || count < 0) {
    invalidOption('count', 'a non-negative integer', count)
  }
  return (source) => new TakeIterator(source[Symbol.asyncIterator](), count)
}

class TakeIterator<T> extends OperatorIterator<T> {
  readonly #source: AsyncIterator<T>
  readonly #count: number
  #taken = 0

  constructor(source: AsyncIterator<T>, count: number) {
    super()
    this.#source = source
    this.#count = count
    if (count === 0) void this.return()
  }

  protected async produce(): Promise<IteratorResult<T, undefined>> {
    if (this.#taken >= this.#count) return { value: undefined, done: true }
    const result = await this.#source.next()
    if (result.done) return { value: undefined, done: true }
    this.#taken++
    if (this.#taken === this.#count) this.release()
    return result
  }

  protected onRelease(): void {
    returnSource(this.#source)
  }
}
