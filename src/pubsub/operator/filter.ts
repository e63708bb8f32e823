import { invalidOption } from '../../core/errors.js'
import { isPromiseLike, type PubSubIterator, returnSource } from '../iterator.js'
import { OperatorIterator } from './operator-iterator.js'

/**
 * Keeps the values for which `predicate` returns true (or a promise of true). A type guard narrows the
 * output type. The returned iterator's `return()` returns the source at once.
 */
export function filter<T, U extends T>(
  predicate: (input: T) => input is U,
): (source: AsyncIterable<T>) => PubSubIterator<U>
export function filter<T>(
  predicate: (input: T) => Promise<boolean> | boolean,
): (source: AsyncIterable<T>) => PubSubIterator<T>
export function filter<T>(
  predicate: (input: T) => Promise<boolean> | boolean,
): (source: AsyncIterable<T>) => PubSubIterator<T> {
  if (typeof predicate !== 'function') invalidOption('predicate', 'a function', predicate)
  return (source) => new FilterIterator(source[Symbol.asyncIterator](), predicate)
}

class FilterIterator<T> extends OperatorIterator<T> {
  readonly #source: AsyncIterator<T>
  readonly #predicate: (input: T) => Promise<boolean> | boolean

  constructor(source: AsyncIterator<T>, predicate: (input: T) => Promise<boolean> | boolean) {
    super()
    this.#source = source
    this.#predicate = predicate
  }

  protected async produce(): Promise<IteratorResult<T, undefined>> {
    while (!this.isDone) {
      const result = await this.#source.next()
      if (result.done) break
      const isKept = this.#predicate(result.value)
      // A synchronous predicate costs no extra microtask.
      if (isPromiseLike(isKept) ? await isKept : isKept) return result
    }
    return { value: undefined, done: true }
  }

  protected onRelease(): void {
    returnSource(this.#source)
  }
}
