import { createRedisEventTarget as createYogaRedisEventTarget } from '@graphql-yoga/redis-event-target'
import { createPubSub as createYogaPubSub } from '@graphql-yoga/subscription'
import { Redis } from 'ioredis'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { createRedisEventTarget, type RedisEventTarget } from '../../src/event-target-redis/index.js'
import type { EventwireError } from '../../src/index.js'
import { createPubSub } from '../../src/pubsub/index.js'
import { waitFor } from '../../src/testing/index.js'
import { RedisServer } from '../support/redis-server.js'

/**
 * A rolling migration: a server on `@graphql-yoga/redis-event-target` and one on our Redis target with
 * `wireFormat: 'graphql-yoga'` share one redis-server and its channels, in both directions.
 */

type Topics = {
  tick: [n: number]
  order: [id: string, order: { id: string; total: number }]
  ping: []
}

/** Per direction, published in one tick (below the 1024 values a yoga Repeater holds pending). */
const COUNT = 1_000

let server: RedisServer
const cleanup: Array<() => Promise<unknown> | unknown> = []

beforeAll(async () => {
  server = await RedisServer.start()
})
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step()
})
afterAll(async () => {
  await server?.stop()
})

/** A server still on yoga's packages. */
function yogaServer() {
  const clients = [new Redis(server.url), new Redis(server.url)]
  cleanup.push(() => {
    for (const client of clients) client.disconnect()
  })
  const eventTarget = createYogaRedisEventTarget({ publishClient: clients[0]!, subscribeClient: clients[1]! })
  return createYogaPubSub<Topics>({ eventTarget })
}

/** A server already on eventwire, speaking yoga's wire format. */
function eventwireServer(errors: EventwireError[]): {
  target: RedisEventTarget
  pubSub: ReturnType<typeof createPubSub<Topics>>
} {
  const target = createRedisEventTarget({
    url: server.url,
    wireFormat: 'graphql-yoga',
    onError: (error) => errors.push(error),
  })
  cleanup.push(() => target.close())
  return { target, pubSub: createPubSub<Topics>({ eventTarget: target }) }
}

/** Yoga's target has no flush(): wait until Redis counts `count` subscribers on `channel`. */
async function subscribed(channel: string, count: number): Promise<void> {
  await waitFor(
    async () => (await server.cli('PUBSUB', 'NUMSUB', channel)).split('\n')[1] === String(count),
    {
      timeoutMs: 5_000,
      message: `${count} subscribers on ${channel}`,
    },
  )
}

/** Reads values from `iterator` into `into` until it ends. */
function readAll<T>(iterator: AsyncIterator<T>, into: T[]): Promise<void> {
  return (async () => {
    for (;;) {
      const next = await iterator.next()
      if (next.done) return
      into.push(next.value)
    }
  })()
}

const range = (count: number) => Array.from({ length: count }, (_, n) => n)

describe("wireFormat 'graphql-yoga': one channel shared with @graphql-yoga/redis-event-target", () => {
  it('delivers yoga -> eventwire and eventwire -> yoga, every event once and in order', async () => {
    const errors: EventwireError[] = []
    const yoga = yogaServer()
    const ours = eventwireServer(errors)
    await ours.target.ready

    // yoga -> eventwire
    const oursTicks: number[] = []
    const oursPings: null[] = []
    const tickSubscription = ours.pubSub.subscribe('tick')
    const pingSubscription = ours.pubSub.subscribe('ping')
    const readingTicks = readAll(tickSubscription, oursTicks)
    const readingPings = readAll(pingSubscription, oursPings)
    await ours.target.flush()
    for (const n of range(COUNT)) yoga.publish('tick', n)
    yoga.publish('ping')
    await waitFor(() => oursTicks.length >= COUNT && oursPings.length >= 1, {
      timeoutMs: 10_000,
      message: `yoga's ${COUNT} ticks and a ping on eventwire`,
    })

    // eventwire -> yoga, with an eventwire subscriber on the same topic on the publishing server
    const yogaOrders: Array<{ id: string; total: number }> = []
    const yogaSubscription = yoga.subscribe('order', 'o-1')
    const readingYoga = readAll(yogaSubscription, yogaOrders)
    const localOrders: Array<{ id: string; total: number }> = []
    const localSubscription = ours.pubSub.subscribe('order', 'o-1')
    const readingLocal = readAll(localSubscription, localOrders)
    // Ours and yoga's.
    await subscribed('order:o-1', 2)
    await ours.target.flush()
    for (const n of range(COUNT)) ours.pubSub.publish('order', 'o-1', { id: 'o-1', total: n })
    ours.pubSub.publish('order', 'o-2', { id: 'o-2', total: -1 })
    await waitFor(() => yogaOrders.length >= COUNT, {
      timeoutMs: 10_000,
      message: `eventwire's ${COUNT} orders on yoga`,
    })
    // Redis echoes our publishes to our own subscription; a marker published after them from yoga's side
    // arrives after the echoes, so once it is read, every echo has been seen (and must have been skipped).
    yoga.publish('order', 'o-1', { id: 'marker', total: COUNT })
    await waitFor(() => localOrders.length >= COUNT + 1 && yogaOrders.length >= COUNT + 1, {
      timeoutMs: 10_000,
      message: 'the marker on both servers',
    })

    await Promise.all(
      [tickSubscription, pingSubscription, yogaSubscription, localSubscription].map((s) => s.return()),
    )
    await Promise.all([readingTicks, readingPings, readingYoga, readingLocal])
    const orders = [...range(COUNT).map((total) => ({ id: 'o-1', total })), { id: 'marker', total: COUNT }]
    expect(oursTicks).toEqual(range(COUNT))
    // yoga sends a topic without payload as null, and so do we.
    expect(oursPings).toEqual([null])
    expect(yogaOrders).toEqual(orders)
    // Our own events reached our own subscriber once, at dispatch: the echo was not delivered again.
    expect(localOrders).toEqual(orders)
    expect(errors).toEqual([])
    expect(ours.target.stats().dropped).toBe(0)
    expect(ours.target.stats().received).toBe(COUNT + 1 + 1)
  })

  it('refuses options that need the eventwire format, and reports a message it cannot parse', async () => {
    const keys = ['a-key-of-sixteen-bytes-or-more']
    expect(() =>
      createRedisEventTarget({ url: server.url, wireFormat: 'graphql-yoga', auth: { keys } }),
    ).toThrow(/auth/)
    expect(() =>
      createRedisEventTarget({ url: server.url, wireFormat: 'graphql-yoga', sharded: true }),
    ).toThrow(/sharded/)
    expect(() => createRedisEventTarget({ url: server.url, wireFormat: 'yoga' as never })).toThrow(
      /wireFormat/,
    )

    const errors: EventwireError[] = []
    const ours = eventwireServer(errors)
    const got: unknown[] = []
    ours.target.addEventListener('raw', (event) => got.push((event as CustomEvent).detail))
    await ours.target.flush()
    await server.cli('PUBLISH', 'raw', '{not json')
    await server.cli('PUBLISH', 'raw', '{"ok":true}')
    await waitFor(() => got.length === 1, { timeoutMs: 5_000, message: 'the valid message' })
    expect(got).toEqual([{ ok: true }])
    expect(errors.map((error) => error.code)).toEqual(['ERR_SERIALIZE'])
    expect(ours.target.stats().dropped).toBe(1)
  })
})
