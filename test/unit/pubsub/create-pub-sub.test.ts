import { describe, expect, it, vi } from 'vitest'
import { EventwireError } from '../../../src/core/errors.js'
import { createInProcessEventTarget } from '../../../src/event-target-in-process/index.js'
import { createPubSub, type PubSubDrop } from '../../../src/pubsub/index.js'
import { isSettledSoon, take } from './helpers.js'

type Topics = {
  tick: [n: number]
  ping: []
  user: [id: string | number, user: { name: string }]
  maybe: [value: string | undefined]
}

function setup(options: Parameters<typeof createPubSub<Topics>>[0] = {}) {
  const target = createInProcessEventTarget()
  const pubSub = createPubSub<Topics>({ eventTarget: target, ...options })
  return { target, pubSub }
}

describe('createPubSub', () => {
  it('delivers published values in order, exactly once', async () => {
    const { pubSub } = setup()
    const sub = pubSub.subscribe('tick')
    for (let n = 0; n < 100; n++) pubSub.publish('tick', n)
    expect(await take(sub, 100)).toEqual(Array.from({ length: 100 }, (_, n) => n))
    expect(await isSettledSoon(sub.next())).toBe(false)
    await sub.return()
    expect(pubSub.stats()).toEqual({ published: 100, delivered: 100, dropped: 0, subscriptions: 0 })
  })

  it('delivers to a consumer already waiting in next()', async () => {
    const { pubSub } = setup()
    const sub = pubSub.subscribe('tick')
    const pending = sub.next()
    pubSub.publish('tick', 7)
    expect(await pending).toEqual({ value: 7, done: false })
    await sub.return()
  })

  it('resolves concurrent next() calls in call order', async () => {
    const { pubSub } = setup()
    const sub = pubSub.subscribe('tick')
    const results = [sub.next(), sub.next(), sub.next()]
    pubSub.publish('tick', 1)
    pubSub.publish('tick', 2)
    expect(await results[0]).toEqual({ value: 1, done: false })
    expect(await results[1]).toEqual({ value: 2, done: false })
    await sub.return()
    expect(await results[2]).toEqual({ value: undefined, done: true })
  })

  it('captures an event published right after subscribe(), before any next()', async () => {
    const { pubSub, target } = setup()
    const sub = pubSub.subscribe('tick')
    expect(target.stats().subscriptions).toBe(1)
    pubSub.publish('tick', 1)
    expect(await sub.next()).toEqual({ value: 1, done: false })
    await sub.return()
  })

  it('routes by id: topic:id subscribers only see their id', async () => {
    const { pubSub, target } = setup()
    const one = pubSub.subscribe('user', 1)
    const two = pubSub.subscribe('user', 'two')
    const seenTypes: string[] = []
    target.addEventListener('user:1', (event) => seenTypes.push(event.type))
    pubSub.publish('user', 1, { name: 'a' })
    pubSub.publish('user', 'two', { name: 'b' })
    pubSub.publish('user', 1, { name: 'c' })
    expect(await take(one, 2)).toEqual([{ name: 'a' }, { name: 'c' }])
    expect(await take(two, 1)).toEqual([{ name: 'b' }])
    expect(seenTypes).toEqual(['user:1', 'user:1'])
    await one.return()
    await two.return()
  })

  it('maps a missing payload to null, as yoga does', async () => {
    const { pubSub } = setup()
    const ping = pubSub.subscribe('ping')
    const maybe = pubSub.subscribe('maybe')
    pubSub.publish('ping')
    pubSub.publish('maybe', undefined)
    pubSub.publish('maybe', 'x')
    expect(await take(ping, 1)).toEqual([null])
    expect(await take(maybe, 2)).toEqual([null, 'x'])
    await ping.return()
    await maybe.return()
  })

  it('for await ... break removes the listener', async () => {
    const { pubSub, target } = setup()
    const sub = pubSub.subscribe('tick')
    pubSub.publish('tick', 1)
    pubSub.publish('tick', 2)
    const seen: number[] = []
    for await (const n of sub) {
      seen.push(n)
      if (n === 2) break
    }
    expect(seen).toEqual([1, 2])
    expect(target.stats().subscriptions).toBe(0)
    expect(pubSub.stats().subscriptions).toBe(0)
  })

  it('return() while next() is pending resolves it done and removes the listener', async () => {
    const { pubSub, target } = setup()
    const sub = pubSub.subscribe('tick')
    const pending = sub.next()
    expect(await isSettledSoon(pending)).toBe(false)
    expect(await sub.return()).toEqual({ value: undefined, done: true })
    expect(await pending).toEqual({ value: undefined, done: true })
    expect(target.stats().subscriptions).toBe(0)
    pubSub.publish('tick', 1)
    expect(await sub.next()).toEqual({ value: undefined, done: true })
    expect(pubSub.stats()).toMatchObject({ published: 1, delivered: 0, subscriptions: 0 })
  })

  it('throw() removes the listener and rejects with the error', async () => {
    const { pubSub, target } = setup()
    const sub = pubSub.subscribe('tick')
    const pending = sub.next()
    const error = new Error('stop')
    await expect(sub.throw(error)).rejects.toBe(error)
    expect(await pending).toEqual({ value: undefined, done: true })
    expect(target.stats().subscriptions).toBe(0)
    expect(await sub.next()).toEqual({ value: undefined, done: true })
  })

  it('return() discards buffered values', async () => {
    const { pubSub } = setup()
    const sub = pubSub.subscribe('tick')
    pubSub.publish('tick', 1)
    await sub.return()
    expect(await sub.next()).toEqual({ value: undefined, done: true })
  })

  it('counts subscriptions and keeps them independent', async () => {
    const { pubSub, target } = setup()
    const a = pubSub.subscribe('tick')
    const b = pubSub.subscribe('tick')
    expect(pubSub.stats().subscriptions).toBe(2)
    pubSub.publish('tick', 1)
    await a.return()
    pubSub.publish('tick', 2)
    expect(await take(b, 2)).toEqual([1, 2])
    expect(target.stats().subscriptions).toBe(1)
    await b.return()
    await b.return()
    expect(target.stats().subscriptions).toBe(0)
    expect(pubSub.stats()).toEqual({ published: 2, delivered: 2, dropped: 0, subscriptions: 0 })
  })

  it('uses an in-process target by default, and survives destructuring like yoga', async () => {
    const { publish, subscribe } = createPubSub<Topics>()
    const sub = subscribe('tick')
    publish('tick', 3)
    expect(await take(sub, 1)).toEqual([3])
    await sub.return()
  })

  it('works over a plain EventTarget (the default of yoga createPubSub)', async () => {
    const target = new EventTarget()
    const pubSub = createPubSub<Topics>({ eventTarget: target })
    const sub = pubSub.subscribe('user', 5)
    pubSub.publish('user', 5, { name: 'x' })
    pubSub.publish('user', 5, { name: 'y' })
    expect(await take(sub, 2)).toEqual([{ name: 'x' }, { name: 'y' }])
    await sub.return()
    // The listener is gone: dispatching now reaches nothing.
    let calls = 0
    target.addEventListener('user:5', () => calls++)
    pubSub.publish('user', 5, { name: 'z' })
    expect(calls).toBe(1)
    expect(pubSub.stats()).toEqual({ published: 3, delivered: 2, dropped: 0, subscriptions: 0 })
  })
})

describe('createPubSub buffer policies', () => {
  it("'drop-oldest' (the default) keeps the newest values and counts drops", async () => {
    const drops: PubSubDrop[] = []
    const { pubSub } = setup({ buffer: { size: 3 }, onDrop: (drop) => drops.push(drop) })
    const sub = pubSub.subscribe('tick')
    for (let n = 1; n <= 5; n++) pubSub.publish('tick', n)
    expect(await take(sub, 3)).toEqual([3, 4, 5])
    expect(await isSettledSoon(sub.next())).toBe(false)
    expect(pubSub.stats()).toEqual({ published: 5, delivered: 3, dropped: 2, subscriptions: 1 })
    expect(drops).toEqual([
      { eventType: 'tick', policy: 'drop-oldest', count: 1 },
      { eventType: 'tick', policy: 'drop-oldest', count: 1 },
    ])
    await sub.return()
  })

  it("'drop-oldest' keeps FIFO order across the ring's wrap-around", async () => {
    const { pubSub } = setup({ buffer: { size: 4, policy: 'drop-oldest' } })
    const sub = pubSub.subscribe('tick')
    pubSub.publish('tick', 1)
    pubSub.publish('tick', 2)
    expect(await take(sub, 1)).toEqual([1])
    for (let n = 3; n <= 9; n++) pubSub.publish('tick', n)
    expect(await take(sub, 4)).toEqual([6, 7, 8, 9])
    pubSub.publish('tick', 10)
    expect(await take(sub, 1)).toEqual([10])
    expect(pubSub.stats()).toMatchObject({ published: 10, delivered: 6, dropped: 4 })
    await sub.return()
  })

  it("'drop-newest' keeps the oldest values and counts drops", async () => {
    const drops: PubSubDrop[] = []
    const { pubSub } = setup({
      buffer: { size: 3, policy: 'drop-newest' },
      onDrop: (drop) => drops.push(drop),
    })
    const sub = pubSub.subscribe('user', 'u')
    for (let n = 1; n <= 5; n++) pubSub.publish('user', 'u', { name: String(n) })
    expect(await take(sub, 3)).toEqual([{ name: '1' }, { name: '2' }, { name: '3' }])
    pubSub.publish('user', 'u', { name: '6' })
    expect(await take(sub, 1)).toEqual([{ name: '6' }])
    expect(pubSub.stats()).toEqual({ published: 6, delivered: 4, dropped: 2, subscriptions: 1 })
    expect(drops).toEqual([
      { eventType: 'user:u', policy: 'drop-newest', count: 1 },
      { eventType: 'user:u', policy: 'drop-newest', count: 1 },
    ])
    await sub.return()
  })

  it("'error' ends the iterator with ERR_OVERFLOW on the next next(), after removing its listener", async () => {
    const drops: PubSubDrop[] = []
    const { pubSub, target } = setup({
      buffer: { size: 2, policy: 'error' },
      onDrop: (drop) => drops.push(drop),
    })
    const sub = pubSub.subscribe('tick')
    pubSub.publish('tick', 1)
    pubSub.publish('tick', 2)
    expect(target.stats().subscriptions).toBe(1)
    pubSub.publish('tick', 3)
    expect(target.stats().subscriptions).toBe(0)
    expect(pubSub.stats()).toEqual({ published: 3, delivered: 0, dropped: 3, subscriptions: 0 })
    expect(drops).toEqual([{ eventType: 'tick', policy: 'error', count: 3 }])
    const error = await sub.next().then(
      () => undefined,
      (thrown: unknown) => thrown,
    )
    expect(error).toBeInstanceOf(EventwireError)
    expect(error).toMatchObject({ code: 'ERR_OVERFLOW', eventType: 'tick' })
    expect(await sub.next()).toEqual({ value: undefined, done: true })
  })

  it("'error' does not trigger while the consumer keeps up", async () => {
    const { pubSub } = setup({ buffer: { size: 1, policy: 'error' } })
    const sub = pubSub.subscribe('tick')
    const seen: number[] = []
    for (let n = 1; n <= 5; n++) {
      const next = sub.next()
      pubSub.publish('tick', n)
      pubSub.publish('tick', n * 10)
      seen.push((await next).value as number, (await sub.next()).value as number)
    }
    expect(seen).toEqual([1, 10, 2, 20, 3, 30, 4, 40, 5, 50])
    expect(pubSub.stats().dropped).toBe(0)
    await sub.return()
  })

  it('a for await consumer sees the overflow error', async () => {
    const { pubSub } = setup({ buffer: { size: 1, policy: 'error' } })
    const sub = pubSub.subscribe('tick')
    pubSub.publish('tick', 1)
    pubSub.publish('tick', 2)
    const seen: number[] = []
    await expect(
      (async () => {
        for await (const n of sub) seen.push(n)
      })(),
    ).rejects.toMatchObject({ code: 'ERR_OVERFLOW' })
    expect(seen).toEqual([])
  })

  it('a throwing onDrop is reported, not thrown into the dispatch, and delivery goes on', async () => {
    const reported: unknown[] = []
    const spy = vi.spyOn(console, 'error').mockImplementation((error: unknown) => {
      reported.push(error)
    })
    try {
      // A plain EventTarget: a throwing listener there would become an uncaught exception.
      const pubSub = createPubSub<Topics>({
        eventTarget: new EventTarget(),
        buffer: { size: 1 },
        onDrop: () => {
          throw new Error('onDrop failed')
        },
      })
      const sub = pubSub.subscribe('tick')
      pubSub.publish('tick', 1)
      pubSub.publish('tick', 2)
      expect(await take(sub, 1)).toEqual([2])
      expect(pubSub.stats()).toMatchObject({ published: 2, delivered: 1, dropped: 1 })
      expect(reported).toHaveLength(1)
      // One line with the code, then the stack of what the application's callback threw.
      expect(reported[0]).toMatch(/^eventwire ERR_LISTENER_THREW: .*\nError: onDrop failed\n\s+at /)
      await sub.return()
    } finally {
      spy.mockRestore()
    }
  })

  it('grows the buffer past its first allocation up to size, in order', async () => {
    const { pubSub } = setup({ buffer: { size: 1000 } })
    const sub = pubSub.subscribe('tick')
    for (let n = 0; n < 1000; n++) pubSub.publish('tick', n)
    pubSub.publish('tick', 1000)
    const values = await take(sub, 1000)
    expect(values[0]).toBe(1)
    expect(values.at(-1)).toBe(1000)
    expect(values).toEqual(Array.from({ length: 1000 }, (_, n) => n + 1))
    expect(pubSub.stats().dropped).toBe(1)
    await sub.return()
  })

  it('the default buffer holds 1024 values and drops the oldest', async () => {
    const { pubSub } = setup()
    const sub = pubSub.subscribe('tick')
    for (let n = 0; n < 1030; n++) pubSub.publish('tick', n)
    expect(pubSub.stats().dropped).toBe(6)
    expect((await sub.next()).value).toBe(6)
    await sub.return()
  })
})

describe('createPubSub invalid options', () => {
  function codeOf(fn: () => unknown): unknown {
    try {
      fn()
    } catch (error) {
      return error instanceof EventwireError ? [error.code, error.message] : error
    }
    return 'did not throw'
  }

  it.each([
    ['buffer.size', { buffer: { size: 0 } }],
    ['buffer.size', { buffer: { size: 1.5 } }],
    ['buffer.size', { buffer: { size: Number.POSITIVE_INFINITY } }],
    ['buffer.size', { buffer: { size: '10' } }],
    ['buffer.policy', { buffer: { policy: 'drop-all' } }],
    ['buffer', { buffer: 5 }],
    ['onDrop', { onDrop: 'log' }],
    ['eventTarget', { eventTarget: {} }],
    ['eventTarget', { eventTarget: { addEventListener() {}, removeEventListener() {} } }],
    ['eventTarget', { eventTarget: null }],
    ['createPubSub options', 'config'],
    ['repeaterBuffer', { repeaterBuffer: {} }],
  ])('rejects %s', (name, config) => {
    const result = codeOf(() => createPubSub(config as never))
    expect(result).toEqual(['ERR_INVALID_OPTION', expect.stringContaining(`"${name}"`)])
  })

  it('rejects an empty or non-string topic at publish and subscribe, and a bad id', () => {
    const pubSub = createPubSub<Topics>()
    const loose = pubSub as unknown as {
      publish(...args: unknown[]): void
      subscribe(...args: unknown[]): unknown
    }
    expect(codeOf(() => loose.publish(''))).toEqual([
      'ERR_INVALID_OPTION',
      expect.stringContaining('"topic"'),
    ])
    expect(codeOf(() => loose.publish(42, 1))).toEqual([
      'ERR_INVALID_OPTION',
      expect.stringContaining('"topic"'),
    ])
    expect(codeOf(() => loose.subscribe(''))).toEqual([
      'ERR_INVALID_OPTION',
      expect.stringContaining('"topic"'),
    ])
    expect(codeOf(() => loose.subscribe(undefined))).toEqual([
      'ERR_INVALID_OPTION',
      expect.stringContaining('"topic"'),
    ])
    expect(codeOf(() => loose.subscribe('user', {}))).toEqual([
      'ERR_INVALID_OPTION',
      expect.stringContaining('"id"'),
    ])
    expect(codeOf(() => loose.publish('user', null, {}))).toEqual([
      'ERR_INVALID_OPTION',
      expect.stringContaining('"id"'),
    ])
    expect(pubSub.stats()).toEqual({ published: 0, delivered: 0, dropped: 0, subscriptions: 0 })
  })
})
