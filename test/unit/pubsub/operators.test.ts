import { afterEach, describe, expect, it, vi } from 'vitest'
import { EventwireError } from '../../../src/core/errors.js'
import { createInProcessEventTarget } from '../../../src/event-target-in-process/index.js'
import {
  batch,
  createPubSub,
  dedupe,
  filter,
  map,
  merge,
  type PubSubIterator,
  pipe,
  take,
} from '../../../src/pubsub/index.js'
import { drain, fromArray, isSettledSoon, quietSource, take as read, waitFor } from './helpers.js'

type Topics = { tick: [n: number]; tock: [s: string] }

function setup() {
  const target = createInProcessEventTarget()
  const pubSub = createPubSub<Topics>({ eventTarget: target })
  return { target, pubSub }
}

/** return() while a next() is pending on a source that never yields: must settle at once, source returned. */
async function expectPromptReturn<T>(build: (source: AsyncIterable<number>) => PubSubIterator<T>) {
  const { source, calls } = quietSource<number>()
  const it = build(source)
  const pending = it.next()
  expect(await isSettledSoon(pending)).toBe(false)
  expect(await it.return()).toEqual({ value: undefined, done: true })
  expect(await pending).toEqual({ value: undefined, done: true })
  expect(calls.return).toBe(1)
  expect(await it.next()).toEqual({ value: undefined, done: true })
}

/** The same, end to end: the subscription's listener is gone once the operator returns. */
async function expectListenerRemoved<T>(build: (source: AsyncIterable<number>) => PubSubIterator<T>) {
  const { pubSub, target } = setup()
  const it = build(pubSub.subscribe('tick'))
  const pending = it.next()
  expect(target.stats().subscriptions).toBe(1)
  await it.return()
  expect(await pending).toEqual({ value: undefined, done: true })
  expect(target.stats().subscriptions).toBe(0)
  expect(pubSub.stats().subscriptions).toBe(0)
}

describe('filter', () => {
  it('keeps matching values, with sync and async predicates', async () => {
    expect(await drain(filter((n: number) => n % 2 === 0)(fromArray([1, 2, 3, 4, 5, 6])))).toEqual([2, 4, 6])
    expect(await drain(filter(async (n: number) => n > 3)(fromArray([1, 5, 2, 7])))).toEqual([5, 7])
  })

  it('narrows with a type guard', async () => {
    const isString = (value: string | number): value is string => typeof value === 'string'
    const out: PubSubIterator<string> = filter(isString)(fromArray<string | number>([1, 'a', 2, 'b']))
    expect(await drain(out)).toEqual(['a', 'b'])
  })

  it('return() stops its source promptly', async () => {
    await expectPromptReturn(filter(() => true))
    await expectListenerRemoved(filter(() => true))
  })

  it('a throwing predicate rejects next() and returns the source', async () => {
    const { source, calls } = quietSource([1, 2])
    const it = filter<number>(() => {
      throw new Error('bad predicate')
    })(source)
    await expect(it.next()).rejects.toThrow('bad predicate')
    expect(calls.return).toBe(1)
    expect(await it.next()).toEqual({ value: undefined, done: true })
  })
})

describe('map', () => {
  it('maps values in order, awaiting an async mapper', async () => {
    expect(await drain(map((n: number) => n * 2)(fromArray([1, 2, 3])))).toEqual([2, 4, 6])
    const slowFirst = map(
      (n: number) => new Promise<string>((resolve) => setTimeout(() => resolve(`v${n}`), n === 1 ? 20 : 0)),
    )
    expect(await drain(slowFirst(fromArray([1, 2, 3])))).toEqual(['v1', 'v2', 'v3'])
  })

  it('return() stops its source promptly', async () => {
    await expectPromptReturn(map(String))
    await expectListenerRemoved(map(String))
  })

  it('a rejecting source rejects next() once, then the iterator is done', async () => {
    async function* failing() {
      yield 1
      throw new Error('source failed')
    }
    const it = map((n: number) => n + 1)(failing())
    expect(await it.next()).toEqual({ value: 2, done: false })
    await expect(it.next()).rejects.toThrow('source failed')
    expect(await it.next()).toEqual({ value: undefined, done: true })
  })
})

describe('take', () => {
  it('passes the first n values, then ends', async () => {
    expect(await drain(take(2)(fromArray([1, 2, 3, 4])))).toEqual([1, 2])
    expect(await drain(take(5)(fromArray([1, 2])))).toEqual([1, 2])
    expect(await drain(take(0)(fromArray([1, 2])))).toEqual([])
  })

  it('returns its source right after the n-th value, before another next()', async () => {
    const { pubSub, target } = setup()
    const it = take<number>(2)(pubSub.subscribe('tick'))
    pubSub.publish('tick', 1)
    pubSub.publish('tick', 2)
    pubSub.publish('tick', 3)
    expect(await read(it, 2)).toEqual([1, 2])
    expect(target.stats().subscriptions).toBe(0)
    expect(await it.next()).toEqual({ value: undefined, done: true })
  })

  it('take(0) returns its source at once', () => {
    const { source, calls } = quietSource<number>()
    take<number>(0)(source)
    expect(calls.return).toBe(1)
  })

  it('return() stops its source promptly', async () => {
    await expectPromptReturn(take(3))
    await expectListenerRemoved(take(3))
  })

  it('rejects a count that is not a non-negative integer', () => {
    for (const count of [-1, 1.5, Number.NaN, '2']) {
      expect(() => take(count as number)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_OPTION' }))
    }
  })
})

describe('batch', () => {
  afterEach(() => {
    vi.useRealTimers()
  })

  it('emits full batches of size and flushes the remainder when the source ends', async () => {
    expect(await drain(batch<number>({ size: 3 })(fromArray([1, 2, 3, 4, 5, 6, 7])))).toEqual([
      [1, 2, 3],
      [4, 5, 6],
      [7],
    ])
    expect(await drain(batch<number>({ size: 3 })(fromArray([])))).toEqual([])
  })

  it('emits timeMs after the first value of a batch (fake timers)', async () => {
    vi.useFakeTimers()
    const { pubSub, target } = setup()
    const it = batch<number>({ size: 10, timeMs: 100 })(pubSub.subscribe('tick'))
    const first = it.next()
    pubSub.publish('tick', 1)
    await vi.advanceTimersByTimeAsync(50)
    pubSub.publish('tick', 2)
    expect(await isSettledSoonFake(first)).toBe(false)
    await vi.advanceTimersByTimeAsync(50)
    expect(await first).toEqual({ value: [1, 2], done: false })

    // The timer of the next batch starts at its first value, not at next().
    const second = it.next()
    await vi.advanceTimersByTimeAsync(500)
    expect(await isSettledSoonFake(second)).toBe(false)
    pubSub.publish('tick', 3)
    await vi.advanceTimersByTimeAsync(99)
    expect(await isSettledSoonFake(second)).toBe(false)
    await vi.advanceTimersByTimeAsync(1)
    expect(await second).toEqual({ value: [3], done: false })

    const third = it.next()
    pubSub.publish('tick', 4)
    await vi.advanceTimersByTimeAsync(10)
    expect(vi.getTimerCount()).toBe(1)
    await it.return()
    expect(vi.getTimerCount()).toBe(0)
    expect(await third).toEqual({ value: undefined, done: true })
    expect(target.stats().subscriptions).toBe(0)
  })

  it('size wins over time when reached first (real timers, short timeMs)', async () => {
    const { pubSub } = setup()
    const it = batch<number>({ size: 2, timeMs: 20 })(pubSub.subscribe('tick'))
    for (const n of [1, 2, 3]) pubSub.publish('tick', n)
    expect(await read(it, 2)).toEqual([[1, 2], [3]])
    await it.return()
  })

  it('a value arriving after the timer fired starts the next batch', async () => {
    const { pubSub } = setup()
    const it = batch<number>({ timeMs: 5 })(pubSub.subscribe('tick'))
    const first = it.next()
    pubSub.publish('tick', 1)
    expect(await first).toEqual({ value: [1], done: false })
    const second = it.next()
    pubSub.publish('tick', 2)
    pubSub.publish('tick', 3)
    expect(await second).toEqual({ value: [2, 3], done: false })
    await it.return()
  })

  it('return() stops its source promptly and clears its timer', async () => {
    await expectPromptReturn(batch({ size: 2 }))
    await expectListenerRemoved(batch({ timeMs: 1_000 }))
    vi.useFakeTimers()
    const { source, calls } = quietSource([1])
    const it = batch<number>({ size: 5, timeMs: 1_000 })(source)
    const pending = it.next()
    await vi.advanceTimersByTimeAsync(0)
    expect(vi.getTimerCount()).toBe(1)
    await it.return()
    expect(vi.getTimerCount()).toBe(0)
    expect(calls.return).toBe(1)
    expect(await pending).toEqual({ value: undefined, done: true })
  })

  it('rejects options without size or timeMs, and bad values', () => {
    for (const options of [undefined, {}, { size: 0 }, { timeMs: -1 }, { size: 2, timeMs: 1.5 }, 3]) {
      expect(() => batch(options as never)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_OPTION' }))
    }
  })
})

/** isSettledSoon for fake timers: only microtasks may run. */
async function isSettledSoonFake(promise: Promise<unknown>): Promise<boolean> {
  let isSettled = false
  promise.then(
    () => {
      isSettled = true
    },
    () => {
      isSettled = true
    },
  )
  for (let i = 0; i < 20; i++) await Promise.resolve()
  return isSettled
}

describe('dedupe', () => {
  it('drops consecutive duplicates by default', async () => {
    const values = ['on', 'on', 'off', 'off', 'on', 'on']
    expect(await drain(dedupe<string>()(fromArray(values)))).toEqual(['on', 'off', 'on'])
  })

  it('drops keys seen within the last windowSize passed values', async () => {
    const messages = [1, 2, 1, 3, 2, 4, 1, 5, 2].map((id) => ({ id }))
    const out = await drain(dedupe((m: { id: number }) => m.id, { windowSize: 3 })(fromArray(messages)))
    // window after each pass: [1] [1,2] [1,2,3] [2,3,4] [3,4,1] [4,1,5] -> the last 2 is new again
    expect(out.map((m) => m.id)).toEqual([1, 2, 3, 4, 1, 5, 2])
  })

  it('compares with SameValueZero (NaN equals NaN)', async () => {
    expect(await drain(dedupe<number>()(fromArray([Number.NaN, Number.NaN, 0, -0])))).toEqual([Number.NaN, 0])
  })

  it('return() stops its source promptly', async () => {
    await expectPromptReturn(dedupe())
    await expectListenerRemoved(dedupe())
  })

  it('rejects a bad keyFn or windowSize', () => {
    expect(() => dedupe('id' as never)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_OPTION' }))
    expect(() => dedupe(undefined, { windowSize: 0 })).toThrow(
      expect.objectContaining({ code: 'ERR_INVALID_OPTION' }),
    )
  })
})

describe('merge', () => {
  it('interleaves values in arrival order and ends when every source ends', async () => {
    const { pubSub } = setup()
    const it = merge(pubSub.subscribe('tick'), pubSub.subscribe('tock'))
    pubSub.publish('tick', 1)
    const first = await it.next()
    pubSub.publish('tock', 'a')
    const second = await it.next()
    pubSub.publish('tick', 2)
    const third = await it.next()
    expect([first.value, second.value, third.value]).toEqual([1, 'a', 2])
    await it.return()
    expect(await drain(merge(fromArray([1, 2]), fromArray(['x'])))).toEqual(
      expect.arrayContaining([1, 2, 'x']),
    )
    expect(await drain(merge())).toEqual([])
  })

  it('keeps each source in order', async () => {
    const out = await drain(merge(fromArray([1, 2, 3]), fromArray([10, 20, 30])))
    expect(out.filter((n) => n < 10)).toEqual([1, 2, 3])
    expect(out.filter((n) => n >= 10)).toEqual([10, 20, 30])
  })

  it('return() returns every source, even while next() is pending on all of them', async () => {
    const a = quietSource<number>()
    const b = quietSource<string>()
    const it = merge(a.source, b.source)
    const pending = it.next()
    expect(await isSettledSoon(pending)).toBe(false)
    await it.return()
    expect(await pending).toEqual({ value: undefined, done: true })
    expect([a.calls.return, b.calls.return]).toEqual([1, 1])

    const { pubSub, target } = setup()
    const subs = merge(pubSub.subscribe('tick'), pubSub.subscribe('tock'))
    const waiting = subs.next()
    expect(target.stats().subscriptions).toBe(2)
    await subs.return()
    expect(await waiting).toEqual({ value: undefined, done: true })
    expect(target.stats().subscriptions).toBe(0)
  })

  it('a failing source rejects next() and returns the others', async () => {
    const quiet = quietSource<number>()
    async function* failing(): AsyncGenerator<number> {
      yield* []
      throw new Error('boom')
    }
    const it = merge(quiet.source, failing())
    await expect(it.next()).rejects.toThrow('boom')
    expect(quiet.calls.return).toBe(1)
    expect(await it.next()).toEqual({ value: undefined, done: true })
  })
})

describe('pipe', () => {
  it('applies operators left to right, as yoga pipe does', async () => {
    const out = pipe(
      fromArray([1, 2, 2, 3, 4, 5, 6, 7]),
      filter((n: number) => n !== 5),
      dedupe<number>(),
      map((n: number) => n * 10),
      take<number>(4),
      batch<number>({ size: 3 }),
    )
    expect(await drain(out)).toEqual([[10, 20, 30], [40]])
    expect(pipe(1)).toBe(1)
    expect(pipe(1, (n) => n + 1, String)).toBe('2')
  })

  it('returning the end of a pipeline removes the subscription listener', async () => {
    const { pubSub, target } = setup()
    const it = pipe(
      pubSub.subscribe('tick'),
      filter((n: number) => n > 1),
      map((n) => n * 2),
    )
    pubSub.publish('tick', 1)
    pubSub.publish('tick', 2)
    expect(await read(it, 1)).toEqual([4])
    const pending = it.next()
    await it.return()
    expect(await pending).toEqual({ value: undefined, done: true })
    expect(target.stats().subscriptions).toBe(0)
  })

  it('return() on a pipeline over a quiet async generator settles without waiting for the generator', async () => {
    let isFinallyRun = false
    async function* quietGenerator() {
      try {
        yield 1
        await new Promise(() => {})
      } finally {
        isFinallyRun = true
      }
    }
    const it = pipe(
      quietGenerator(),
      map((n: number) => n + 1),
    )
    expect(await it.next()).toEqual({ value: 2, done: false })
    const stuck = it.next()
    expect(await isSettledSoon(stuck)).toBe(false)
    expect(await it.return()).toEqual({ value: undefined, done: true })
    expect(await stuck).toEqual({ value: undefined, done: true })
    // The generator's own return() is queued behind its stuck next(): an async function* operator
    // would hang here, ours only asked it to stop.
    expect(isFinallyRun).toBe(false)
  })
})

describe('operator errors', () => {
  it('filter and map reject non-function arguments with ERR_INVALID_OPTION', () => {
    for (const build of [() => filter('x' as never), () => map(3 as never)]) {
      let error: unknown
      try {
        build()
      } catch (thrown) {
        error = thrown
      }
      expect(error).toBeInstanceOf(EventwireError)
      expect(error).toMatchObject({ code: 'ERR_INVALID_OPTION' })
    }
  })

  it("a source whose return() rejects is reported, and the operator's return() still resolves", async () => {
    const reported: unknown[] = []
    const spy = vi.spyOn(console, 'error').mockImplementation((error: unknown) => {
      reported.push(error)
    })
    try {
      const failure = new Error('cannot close')
      const source: AsyncIterableIterator<number> = {
        next: () => new Promise(() => {}),
        return: () => Promise.reject(failure),
        [Symbol.asyncIterator]() {
          return this
        },
      }
      const it = map((n: number) => n)(source)
      const pending = it.next()
      expect(await it.return()).toEqual({ value: undefined, done: true })
      expect(await pending).toEqual({ value: undefined, done: true })
      await waitFor(() => reported.length === 1, { timeoutMs: 1_000 })
      // One line: the code, the message and the cause's message, no stack.
      expect(reported[0]).toMatch(/^eventwire ERR_CLOSED: .*\(cannot close\)$/)
      expect(String(reported[0])).not.toContain('\n')
    } finally {
      spy.mockRestore()
    }
  })

  it('a waitFor-style poll sees the listener count return to zero after break', async () => {
    const { pubSub, target } = setup()
    const it = pipe(pubSub.subscribe('tick'), take<number>(10))
    const consume = (async () => {
      for await (const n of it) if (n === 3) break
    })()
    for (const n of [1, 2, 3]) pubSub.publish('tick', n)
    await consume
    await waitFor(() => target.stats().subscriptions === 0, { timeoutMs: 1_000 })
  })
})
