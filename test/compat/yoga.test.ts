import { createPubSub as createYogaPubSub } from '@graphql-yoga/subscription'
import type { TypedEventTarget as YogaTypedEventTarget } from '@graphql-yoga/typed-event-target'
import { Redis } from 'ioredis'
import { afterAll, describe, expect, it } from 'vitest'
import { createInProcessEventTarget } from '../../src/event-target-in-process/index.js'
import { createRedisEventTarget } from '../../src/event-target-redis/index.js'
import { createEvent, type EventwireError, type TypedEvent, type TypedEventTarget } from '../../src/index.js'
import { waitFor } from '../../src/testing/index.js'
import { createMemoryConnector, Hub, Spoke } from '../../src/transport/index.js'
import { RedisServer } from '../support/redis-server.js'
import { client, startHub } from '../support/websocket.js'

type Tick = TypedEvent<'tick', number>

// Compile-time: our targets and yoga's are assignable both ways (checked by `npm run typecheck`).
const ours: TypedEventTarget<Tick> = createInProcessEventTarget<Tick>()
const asYoga: YogaTypedEventTarget<Tick> = ours
const backToOurs: TypedEventTarget<Tick> = asYoga
const platform: EventTarget = backToOurs

// Compile-time: a listener gets the member of the union its type names; dispatch checks type and detail.
type Chat = TypedEvent<'chat', { text: string }> | TypedEvent<'typing', { from: string }>
const typed = createInProcessEventTarget<Chat>()
typed.addEventListener('chat', (event) => event.detail.text.toUpperCase())
// @ts-expect-error a 'typing' event has no text
typed.addEventListener('typing', (event) => event.detail.text)
typed.dispatchEvent(createEvent('typing', { from: 'ada' }))
// @ts-expect-error the detail does not match the 'typing' member
typed.dispatchEvent(createEvent('typing', { text: 'hi' }))
const typedAsYoga: YogaTypedEventTarget<Chat> = typed
const typedHub: YogaTypedEventTarget<Chat> = new Hub<Chat>()

async function collect<T>(iterator: AsyncIterator<T>, count: number): Promise<T[]> {
  const values: T[] = []
  while (values.length < count) {
    const next = await iterator.next()
    if (next.done) break
    values.push(next.value)
  }
  await iterator.return?.()
  return values
}

describe("yoga's createPubSub over eventwire targets", () => {
  it('uses the in-process target as its eventTarget, with and without ids', async () => {
    expect(platform).toBe(ours)
    expect([typedAsYoga, typedHub].every((target) => typeof target.dispatchEvent === 'function')).toBe(true)
    const target = createInProcessEventTarget()
    const pubsub = createYogaPubSub<{ tick: [number]; user: [id: string, name: string] }>({
      eventTarget: target,
    })
    const ticks = pubsub.subscribe('tick')
    const users = pubsub.subscribe('user', 'u1')
    const ticking = collect(ticks, 3)
    const naming = collect(users, 1)
    // yoga subscribes lazily, when the iterator is first pulled.
    await Promise.resolve()
    for (const n of [1, 2, 3]) pubsub.publish('tick', n)
    pubsub.publish('user', 'u2', 'not me')
    pubsub.publish('user', 'u1', 'ada')
    expect(await ticking).toEqual([1, 2, 3])
    expect(await naming).toEqual(['ada'])
    expect(target.stats().subscriptions).toBe(0)
  })

  it('publishes on one spoke and receives on another through the core hub', async () => {
    const hub = new Hub()
    const connector = createMemoryConnector(hub)
    const a = new Spoke({ connect: connector.connect, heartbeatIntervalMs: 0 })
    const b = new Spoke({ connect: connector.connect, heartbeatIntervalMs: 0 })
    try {
      const publisher = createYogaPubSub<{ tick: [number] }>({ eventTarget: a })
      const subscriber = createYogaPubSub<{ tick: [number] }>({ eventTarget: b })
      const iterator = subscriber.subscribe('tick')
      const receiving = collect(iterator, 3)
      await Promise.resolve()
      await b.flush()
      for (const n of [1, 2, 3]) publisher.publish('tick', n)
      expect(await receiving).toEqual([1, 2, 3])
    } finally {
      await Promise.all([a.close(), b.close()])
      await hub.close()
    }
  })
})

/** More than the 1024 values one Repeater holds pending: what a burst must not lose. */
const BURST = 10_000

/**
 * Publishes BURST values in one synchronous tick on `from` and checks that a subscriber of yoga's own
 * `createPubSub` on `to` reads every one, in order. `listening` resolves once the subscription is known
 * where the events are published.
 */
async function expectBurstDelivered(
  from: TypedEventTarget<TypedEvent>,
  to: TypedEventTarget<TypedEvent>,
  listening: () => Promise<void>,
  errors: EventwireError[],
): Promise<void> {
  const publisher = createYogaPubSub<{ tick: [number] }>({ eventTarget: from })
  const subscriber = createYogaPubSub<{ tick: [number] }>({ eventTarget: to })
  const got: number[] = []
  const iterator = subscriber.subscribe('tick')
  // yoga adds its listener on the first next(), which the loop calls at once.
  const reading = (async () => {
    for await (const value of iterator) {
      got.push(value)
      if (got.length === BURST) break
    }
  })()
  await listening()
  for (let n = 0; n < BURST; n++) publisher.publish('tick', n)
  // A lost value shows as a listener error (yoga's RepeaterOverflowError): stop waiting then.
  await waitFor(() => got.length === BURST || errors.length > 0, {
    timeoutMs: 20_000,
    message: `${BURST} values read (got ${got.length})`,
  })
  // Ends the loop if it still waits for values that will not come.
  await iterator.return()
  await reading
  expect(errors.map((error) => `${error.code}: ${error.message}`)).toEqual([])
  expect(got).toEqual(Array.from({ length: BURST }, (_, n) => n))
}

describe("yoga's createPubSub over the Redis target", () => {
  let server: RedisServer | undefined
  afterAll(async () => {
    await server?.stop()
  })

  it('publishes on one peer and receives on another through a real redis-server', async () => {
    server = await RedisServer.start()
    const clients = Array.from({ length: 4 }, () => new Redis(server!.port, '127.0.0.1'))
    const a = createRedisEventTarget({ publishClient: clients[0]!, subscribeClient: clients[1]! })
    const b = createRedisEventTarget({ publishClient: clients[2]!, subscribeClient: clients[3]! })
    try {
      const publisher = createYogaPubSub<{ order: [id: string, total: number] }>({ eventTarget: a })
      const subscriber = createYogaPubSub<{ order: [id: string, total: number] }>({ eventTarget: b })
      const receiving = collect(subscriber.subscribe('order', 'o-1'), 2)
      await Promise.resolve()
      await b.flush()
      publisher.publish('order', 'o-2', 1)
      publisher.publish('order', 'o-1', 10)
      publisher.publish('order', 'o-1', 20)
      expect(await receiving).toEqual([10, 20])
    } finally {
      await Promise.all([a.close(), b.close()])
      for (const client of clients) client.disconnect()
    }
  })

  it(`reads ${BURST} values published in one tick, all and in order`, async () => {
    server ??= await RedisServer.start()
    const errors: EventwireError[] = []
    const onError = (error: EventwireError) => errors.push(error)
    const a = createRedisEventTarget({ url: server.url, prefix: 'burst:', onError })
    const b = createRedisEventTarget({ url: server.url, prefix: 'burst:', onError })
    try {
      await Promise.all([a.ready, b.ready])
      await expectBurstDelivered(a, b, () => b.flush(), errors)
      expect(b.stats().dropped).toBe(0)
    } finally {
      await Promise.all([a.close(), b.close()])
    }
  })
})

describe("yoga's createPubSub over the WebSocket hub", () => {
  it(`reads ${BURST} values one spoke published in one tick on another spoke, all and in order`, async () => {
    const errors: EventwireError[] = []
    const onError = (error: EventwireError) => errors.push(error)
    const running = await startHub({ onError })
    const a = client(running.url, { onError })
    const b = client(running.url, { onError })
    try {
      await Promise.all([a.ready, b.ready])
      await expectBurstDelivered(a, b, () => b.flush(), errors)
    } finally {
      await Promise.all([a.close(), b.close()])
      await running.close()
    }
  })

  it(`reads ${BURST} values a spoke published in one tick on the hub itself, all and in order`, async () => {
    const errors: EventwireError[] = []
    const onError = (error: EventwireError) => errors.push(error)
    const running = await startHub({ onError })
    const a = client(running.url, { onError })
    try {
      await a.ready
      await expectBurstDelivered(a, running.hub, () => a.flush(), errors)
    } finally {
      await a.close()
      await running.close()
    }
  })
})
