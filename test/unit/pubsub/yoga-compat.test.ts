import {
  createPubSub as createYogaPubSub,
  type PubSub as YogaPubSub,
  filter as yogaFilter,
  pipe as yogaPipe,
} from '@graphql-yoga/subscription'
import { describe, expect, expectTypeOf, it } from 'vitest'
import { createInProcessEventTarget } from '../../../src/event-target-in-process/index.js'
import { createPubSub, filter, map, type PubSubIterator, pipe } from '../../../src/pubsub/index.js'
import { take, waitFor } from './helpers.js'

type Topics = {
  ping: []
  tick: [n: number]
  user: [id: string | number, user: { name: string }]
  maybe: [value: string | undefined]
}

// Compile-time (checked by `npm run typecheck`): our pub/sub is a yoga `PubSub`, and our subscriptions and
// operator outputs are yoga's `Repeater` type, disposal members included (@repeaterjs/repeater 3.1).
const oursAsYoga: YogaPubSub<Topics> = createPubSub<Topics>()
type YogaSubscription<K extends keyof Topics & string> = ReturnType<typeof oursAsYoga.subscribe<K>>
const tickAsRepeater: YogaSubscription<'tick'> = createPubSub<Topics>().subscribe('tick')
const pipedAsRepeater: YogaSubscription<'tick'> = pipe(
  createPubSub<Topics>().subscribe('tick'),
  map((n: number) => n + 1),
)
// What `using` and `await using` accept (like a Repeater, the async member resolves to an iterator result).
const disposable = createPubSub<Topics>().subscribe('tick') satisfies Disposable

describe('yoga compatibility', () => {
  it("yoga's own createPubSub delivers through our in-process target", async () => {
    const target = createInProcessEventTarget()
    const yoga = createYogaPubSub<Topics>({ eventTarget: target })
    const sub = yoga.subscribe('user', 1)
    const ticks = yoga.subscribe('tick')
    // A yoga Repeater adds its listener on the first next(), not at subscribe().
    expect(target.stats().subscriptions).toBe(0)
    const firstUser = sub.next()
    const firstTick = ticks.next()
    expect(target.stats().subscriptions).toBe(2)
    yoga.publish('user', 1, { name: 'a' })
    yoga.publish('tick', 5)
    yoga.publish('tick', 6)
    expect(await firstUser).toEqual({ value: { name: 'a' }, done: false })
    expect(await firstTick).toEqual({ value: 5, done: false })
    expect(await take(ticks, 1)).toEqual([6])
    await sub.return()
    await ticks.return()
    expect(target.stats().subscriptions).toBe(0)
  })

  it('our pubsub and yoga pubsub on one target see each other', async () => {
    const target = createInProcessEventTarget()
    const ours = createPubSub<Topics>({ eventTarget: target })
    const yoga = createYogaPubSub<Topics>({ eventTarget: target })
    const inOurs = ours.subscribe('user', 'x')
    const inYoga = yoga.subscribe('user', 'x')
    const firstInYoga = inYoga.next()
    yoga.publish('user', 'x', { name: 'from yoga' })
    ours.publish('user', 'x', { name: 'from ours' })
    expect(await take(inOurs, 2)).toEqual([{ name: 'from yoga' }, { name: 'from ours' }])
    expect(await firstInYoga).toEqual({ value: { name: 'from yoga' }, done: false })
    expect(await take(inYoga, 1)).toEqual([{ name: 'from ours' }])
    await inOurs.return()
    await inYoga.return()
    expect(target.stats().subscriptions).toBe(0)
  })

  it('yoga operators accept our subscriptions, and ours accept yoga repeaters', async () => {
    const target = createInProcessEventTarget()
    const ours = createPubSub<Topics>({ eventTarget: target })
    const yoga = createYogaPubSub<Topics>({ eventTarget: target })
    const a = yogaPipe(
      ours.subscribe('tick'),
      yogaFilter((n: number) => n > 1),
    )
    const b = pipe(
      yoga.subscribe('tick'),
      filter((n: number) => n > 1),
      map((n) => n * 2),
    )
    const firstA = a.next()
    const firstB = b.next()
    // The first next() ran synchronously down to the Repeater, which added its listener there.
    for (const n of [1, 2, 3]) ours.publish('tick', n)
    expect(await firstA).toEqual({ value: 2, done: false })
    expect(await firstB).toEqual({ value: 4, done: false })
    expect(await take(a, 1)).toEqual([3])
    expect(await take(b, 1)).toEqual([6])
    await a.return()
    await b.return()
    await waitFor(() => target.stats().subscriptions === 0, { timeoutMs: 1_000 })
    expect(ours.stats().subscriptions).toBe(0)
  })

  it('disposes subscriptions and operator outputs like return(): the listener goes, a pending next() ends', async () => {
    // The compile-time assignments above are real subscriptions: dispose them too.
    for (const iterator of [tickAsRepeater, pipedAsRepeater, disposable])
      await iterator[Symbol.asyncDispose]()
    const target = createInProcessEventTarget()
    const pubSub = createPubSub<Topics>({ eventTarget: target })
    const viaAsync = pubSub.subscribe('tick')
    const viaSync = pubSub.subscribe('tick')
    const piped = pipe(
      pubSub.subscribe('tick'),
      map((n: number) => n * 2),
    )
    const pendingAsync = viaAsync.next()
    const pendingPiped = piped.next()
    expect(target.stats().subscriptions).toBe(1)
    expect(pubSub.stats().subscriptions).toBe(3)
    expect(await viaAsync[Symbol.asyncDispose]()).toEqual({ value: undefined, done: true })
    expect(await pendingAsync).toEqual({ value: undefined, done: true })
    expect(viaSync[Symbol.dispose]()).toBeUndefined()
    await piped[Symbol.asyncDispose]()
    expect(await pendingPiped).toEqual({ value: undefined, done: true })
    expect(pubSub.stats().subscriptions).toBe(0)
    expect(target.stats().subscriptions).toBe(0)
    pubSub.publish('tick', 1)
    expect(await viaSync.next()).toEqual({ value: undefined, done: true })
    expect(await piped.next()).toEqual({ value: undefined, done: true })
    // The same member names as yoga's Repeater, so code that disposes either works on both.
    const repeater = createYogaPubSub<Topics>({ eventTarget: target }).subscribe('tick')
    expect(typeof repeater[Symbol.asyncDispose]).toBe('function')
    expect(typeof viaAsync[Symbol.asyncDispose]).toBe('function')
  })

  it('has the same subscribe/publish types as yoga', () => {
    const ours = createPubSub<Topics>()
    const yoga = createYogaPubSub<Topics>()
    // Element types match yoga's, including MapToNull for topics without a payload.
    expectTypeOf(ours.subscribe('ping')).toEqualTypeOf<PubSubIterator<null>>()
    expectTypeOf(ours.subscribe('tick')).toEqualTypeOf<PubSubIterator<number>>()
    expectTypeOf(ours.subscribe('user', 1)).toEqualTypeOf<PubSubIterator<{ name: string }>>()
    expectTypeOf(ours.subscribe('maybe')).toEqualTypeOf<PubSubIterator<string | null>>()
    type YogaValue<T> = T extends AsyncIterable<infer V> ? V : never
    expectTypeOf<YogaValue<ReturnType<typeof yoga.subscribe<'user'>>>>().toEqualTypeOf<{ name: string }>()
    expectTypeOf(ours.publish<'user'>).parameters.toEqualTypeOf<Parameters<typeof yoga.publish<'user'>>>()
    expectTypeOf(ours.subscribe<'user'>).parameters.toEqualTypeOf<Parameters<typeof yoga.subscribe<'user'>>>()
    expectTypeOf(ours.subscribe<'tick'>).parameters.toEqualTypeOf<Parameters<typeof yoga.subscribe<'tick'>>>()
    // Our subscription is usable where yoga code expects an AsyncIterableIterator.
    expectTypeOf(ours.subscribe('tick')).toExtend<AsyncIterableIterator<number>>()
    // Targets are interchangeable: a plain EventTarget, our target, and yoga's config type.
    createPubSub<Topics>({ eventTarget: new EventTarget() })
    createYogaPubSub<Topics>({ eventTarget: createInProcessEventTarget() })
    const shared = createInProcessEventTarget()
    createPubSub<Topics>({ eventTarget: shared })
    createYogaPubSub<Topics>({ eventTarget: shared })
    // @ts-expect-error a topic with an id needs it
    expect(() => ours.subscribe('user')).not.toThrow()
    // @ts-expect-error payload type is checked
    ours.publish('tick', 'one')
  })
})
