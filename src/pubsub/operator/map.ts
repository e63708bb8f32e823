import { invalidOption } from '../../core/errors.js'
import { isPromiseLike, type PubSubIterator, returnSource } from '../iterator.js'
import { OperatorIterator } from './operator-iterator.js'

/**
 * Replaces each value with `mapper(value)`; an async mapper is awaited, so order is kept. The returned
 * iterator's `return()` returns the source at once.
 */
export function map<T, O>(
  mapper: (input: T) => Promise<O> | O,
): (source: AsyncIterable<T>) => PubSubIterator<O> {
  if (typeof mapper !== 'function') invalidOption('mapper', 'a function', mapper)
  return (source) => new MapIterator(source[Symbol.asyncIterator](), mapper)
}

class MapIterator<T, O> extends OperatorIterator<O> {
  readonly #source: AsyncIterator<T>
  readonly #mapper: (input: T) => Promise<O> | O

  constructor(source: AsyncIterator<T>, mapper: (input: T) => Promise<O> | O) {
    super()
    this.#source = source
    this.#mapper = mapper
  }

  protected async produce(): Promise<IteratorResult<O, undefined>> {
    const result = await this.#source.next()
    if (result.done) return { value: undefined, done: true }
    const mapped = this.#mapper(result.value)
    return { value: isPromiseLike(mapped) ? await mapped : mapped, done: false }
  }

  protected onRelease(): void {
    returnSource(this.#source)
  }
}
