import { doneResult, type PubSubIterator, returnSource } from '../iterator.js'
import { OperatorIterator } from './operator-iterator.js'

type ValueOf<TSource> = TSource extends AsyncIterable<infer T> ? T : never

/**
 * Interleaves the values of several sources in arrival order; ends when every source has ended. Each
 * source has at most one `next()` outstanding, so at most one value per source waits here. If a source
 * fails, the others are returned and the error is passed on. `return()` returns every source at once.
 */
export function merge<TSources extends AsyncIterable<unknown>[]>(
  ...sources: TSources
): PubSubIterator<ValueOf<TSources[number]>> {
  return new MergeIterator<ValueOf<TSources[number]>>(
    sources.map((source) => source[Symbol.asyncIterator]() as AsyncIterator<ValueOf<TSources[number]>>),
  )
}

type Settled<T> = { ok: true; result: IteratorResult<T> } | { ok: false; error: unknown }

class MergeIterator<T> extends OperatorIterator<T> {
  readonly #sources: Array<AsyncIterator<T>>
  /** Per source: a `next()` is outstanding. */
  readonly #isPulling: boolean[]
  /** Per source: it has ended (or failed) and is not pulled again. */
  readonly #isEnded: boolean[]
  #openCount: number
  /** Results that arrived while nobody waited; at most one per source. */
  readonly #ready: Array<{ index: number; settled: Settled<T> }> = []
  #wake: (() => void) | undefined

  constructor(sources: Array<AsyncIterator<T>>) {
    super()
    this.#sources = sources
    this.#isPulling = sources.map(() => false)
    this.#isEnded = sources.map(() => false)
    this.#openCount = sources.length
  }

  protected async produce(): Promise<IteratorResult<T, undefined>> {
    while (!this.isDone) {
      const ready = this.#ready.shift()
      if (ready !== undefined) {
        const { index, settled } = ready
        if (!settled.ok) {
          this.#isEnded[index] = true
          this.#openCount--
          throw settled.error
        }
        if (settled.result.done) {
          this.#isEnded[index] = true
          this.#openCount--
          continue
        }
        return settled.result
      }
      if (this.#openCount === 0) break
      for (let index = 0; index < this.#sources.length; index++) {
        if (!this.#isPulling[index] && !this.#isEnded[index]) this.#pull(index)
      }
      // A source whose next() threw synchronously has already settled.
      if (this.#ready.length > 0) continue
      await new Promise<void>((resolve) => {
        this.#wake = resolve
      })
    }
    return doneResult<T>()
  }

  protected onRelease(): void {
    for (let index = 0; index < this.#sources.length; index++) {
      if (this.#isEnded[index]) continue
      this.#isEnded[index] = true
      returnSource(this.#sources[index]!)
    }
    this.#wake?.()
  }

  #pull(index: number): void {
    this.#isPulling[index] = true
    let pending: Promise<IteratorResult<T>>
    try {
      pending = this.#sources[index]!.next()
    } catch (error) {
      this.#settle(index, { ok: false, error })
      return
    }
    Promise.resolve(pending).then(
      (result) => this.#settle(index, { ok: true, result }),
      (error: unknown) => this.#settle(index, { ok: false, error }),
    )
  }

  #settle(index: number, settled: Settled<T>): void {
    this.#isPulling[index] = false
    this.#ready.push({ index, settled })
    const wake = this.#wake
    this.#wake = undefined
    wake?.()
  }
}
