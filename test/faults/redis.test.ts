import { once } from 'node:events'
import { Redis, type RedisOptions } from 'ioredis'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import {
  createRedisEventTarget,
  type RedisEventTarget,
  type RedisEventTargetOptions,
} from '../../src/event-target-redis/index.js'
import type { EventwireError, EventwireStatus } from '../../src/index.js'
import { waitFor } from '../../src/testing/index.js'
import { freePort, RedisServer } from '../support/redis-server.js'

let server: RedisServer
const cleanup: Array<() => Promise<unknown>> = []

beforeAll(async () => {
  server = await RedisServer.start()
})
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step().catch(() => {})
})
afterAll(async () => {
  await server?.stop()
})

function client(options: RedisOptions = {}): Redis {
  const redis = new Redis(server.port, '127.0.0.1', { retryStrategy: () => 50, ...options })
  cleanup.push(async () => redis.disconnect())
  return redis
}

function peer(
  prefix = 'fault:',
  clients = { publishClient: client(), subscribeClient: client() },
  options: Partial<RedisEventTargetOptions> = {},
) {
  const errors: EventwireError[] = []
  const statuses: EventwireStatus[] = []
  const target: RedisEventTarget = createRedisEventTarget({
    ...options,
    ...clients,
    prefix,
    onError: (error) => errors.push(error),
    onStatus: (status) => statuses.push(status),
  })
  cleanup.push(() => target.close())
  return { target, errors, statuses, ...clients }
}

async function numsub(channel: string): Promise<number> {
  const reply = await server.cli('PUBSUB', 'NUMSUB', channel)
  return Number(reply.split('\n')[1])
}

describe('redis faults', () => {
  it('recovers from a redis-server kill and restart on the same port: resubscribes, reports a gap, delivers in order', async () => {
    const a = peer()
    const b = peer()
    const seen: number[] = []
    b.target.addEventListener('tick', (event) => seen.push(event.detail as number))
    await Promise.all([a.target.ready, b.target.ready])
    await b.target.flush()

    await server.restart()
    await waitFor(() => b.statuses.some((status) => status.type === 'gap'), { timeoutMs: 10_000 })
    expect(await numsub('fault:tick')).toBe(1)
    for (const n of [1, 2, 3]) a.target.dispatchEvent(new CustomEvent('tick', { detail: n }))
    await waitFor(() => seen.length === 3, { timeoutMs: 5_000 })
    await a.target.flush()
    expect(seen).toEqual([1, 2, 3])
    const types = b.statuses.map((status) => status.type)
    expect(types.indexOf('disconnected')).toBeLessThan(types.indexOf('gap'))
    const gap = b.statuses.find((status) => status.type === 'gap') as { since: number; until: number }
    expect(gap.until).toBeGreaterThanOrEqual(gap.since)
    expect(b.target.stats().reconnects).toBe(1)
  })

  it('recovers when its subscribe connection is dropped by CLIENT KILL', async () => {
    const subscribeClient = client()
    const id = String(await subscribeClient.client('ID'))
    const a = peer()
    const b = peer('fault:', { publishClient: client(), subscribeClient })
    const seen: string[] = []
    b.target.addEventListener('kill', (event) => seen.push(event.detail as string))
    await b.target.flush()
    expect(await server.cli('CLIENT', 'KILL', 'ID', id)).toBe('1')
    await waitFor(() => b.statuses.some((status) => status.type === 'gap'), { timeoutMs: 10_000 })
    a.target.dispatchEvent(new CustomEvent('kill', { detail: 'after' }))
    await waitFor(() => seen.length === 1, { timeoutMs: 5_000 })
    expect(seen).toEqual(['after'])
  })

  /** Drops `a`'s publish connection with CLIENT KILL; `b` stays subscribed throughout. */
  async function killPublishConnection(publishClient: Redis): Promise<void> {
    const id = String(await publishClient.client('ID'))
    // Seen by its close event: a client that retries fast can be ready again before a poll looks.
    const closed = new Promise((resolve) => publishClient.once('close', resolve))
    expect(await server.cli('CLIENT', 'KILL', 'ID', id)).toBe('1')
    await closed
  }

  /** `a` dispatches; `b` records the details of `type`. Both are ready and `b`'s interest is on Redis. */
  async function pairOn(type: string, options: Partial<RedisEventTargetOptions> = {}) {
    const a = peer('fault:', { publishClient: client(), subscribeClient: client() }, options)
    const b = peer()
    const seen: unknown[] = []
    b.target.addEventListener(type, (event) => seen.push(event.detail))
    await Promise.all([a.target.ready, b.target.flush()])
    return { a, seen }
  }

  it('keeps dispatch order across a publish reconnect, also for events dispatched during its handshake', async () => {
    // ioredis writes a PUBLISH issued between 'connect' and 'ready' (PUBLISH is allowed while Redis
    // loads) straight to the socket, ahead of its offline queue: the target holds its own events instead.
    const { a, seen } = await pairOn('seq')
    await killPublishConnection(a.publishClient)
    for (const n of [1, 2, 3]) a.target.dispatchEvent(new CustomEvent('seq', { detail: n }))
    await once(a.publishClient, 'connect')
    expect(a.publishClient.status).toBe('connect')
    a.target.dispatchEvent(new CustomEvent('seq', { detail: 4 }))
    await once(a.publishClient, 'ready')
    a.target.dispatchEvent(new CustomEvent('seq', { detail: 5 }))
    await a.target.flush()
    await waitFor(() => seen.length === 5, { timeoutMs: 5_000 })
    expect(seen).toEqual([1, 2, 3, 4, 5])
    expect(a.target.stats()).toMatchObject({ sent: 5, dropped: 0 })
  })

  it('flush() waits for events held while the publish client is down, then they are delivered', async () => {
    const { a, seen } = await pairOn('held')
    await killPublishConnection(a.publishClient)
    for (let n = 1; n <= 100; n++) a.target.dispatchEvent(new CustomEvent('held', { detail: n }))
    await a.target.flush()
    expect(a.target.stats().sent).toBe(100)
    await waitFor(() => seen.length === 100, { timeoutMs: 5_000 })
    expect(seen).toEqual(Array.from({ length: 100 }, (_, i) => i + 1))
  })

  it('past offlineQueueSize drops the oldest held events, counts them and reports ERR_OVERFLOW once', async () => {
    const { a, seen } = await pairOn('bounded', { offlineQueueSize: 3 })
    await killPublishConnection(a.publishClient)
    // Two ticks, so the bound is applied to a queue that already holds events.
    for (const n of [1, 2, 3, 4]) a.target.dispatchEvent(new CustomEvent('bounded', { detail: n }))
    await Promise.resolve()
    for (const n of [5, 6]) a.target.dispatchEvent(new CustomEvent('bounded', { detail: n }))
    await a.target.flush()
    await waitFor(() => seen.length === 3, { timeoutMs: 5_000 })
    a.target.dispatchEvent(new CustomEvent('bounded', { detail: 7 }))
    await waitFor(() => seen.length === 4, { timeoutMs: 5_000 })
    expect(seen).toEqual([4, 5, 6, 7])
    expect(a.target.stats()).toMatchObject({ sent: 4, dropped: 3 })
    expect(a.errors.filter((error) => error.code === 'ERR_OVERFLOW')).toHaveLength(1)
  })

  it('offlineQueueSize 0 drops what is dispatched while the publish client is down, and nothing after', async () => {
    const { a, seen } = await pairOn('strict', { offlineQueueSize: 0 })
    await killPublishConnection(a.publishClient)
    a.target.dispatchEvent(new CustomEvent('strict', { detail: 'while down' }))
    await once(a.publishClient, 'ready')
    a.target.dispatchEvent(new CustomEvent('strict', { detail: 'after' }))
    await waitFor(() => seen.length === 1, { timeoutMs: 5_000 })
    await a.target.flush()
    expect(seen).toEqual(['after'])
    expect(a.target.stats()).toMatchObject({ sent: 1, dropped: 1 })
  })

  it('close() while the publish client is down drops the held events, counted, and rejects a waiting flush()', async () => {
    // The publish client stays down for the whole test: its next retry is a minute away.
    const a = peer('fault:', {
      publishClient: client({ retryStrategy: () => 60_000 }),
      subscribeClient: client(),
    })
    await a.target.ready
    await killPublishConnection(a.publishClient)
    a.target.dispatchEvent(new CustomEvent('late', { detail: 1 }))
    a.target.dispatchEvent(new CustomEvent('late', { detail: 2 }))
    const flushing = a.target.flush()
    await a.target.close()
    await expect(flushing).rejects.toMatchObject({ code: 'ERR_CLOSED' })
    expect(a.target.stats().dropped).toBe(2)
    expect(a.errors.map((error) => error.code)).toContain('ERR_CLOSED')
  })

  it("drops a copy or a late arrival of a dispatcher's event by its sequence number, reports it, and never drops a foreign frame without one", async () => {
    const b = peer()
    const seen: unknown[] = []
    b.target.addEventListener('dup', (event) => seen.push(event.detail))
    b.target.addEventListener('other', (event) => seen.push(event.detail))
    await b.target.flush()
    for (const frame of [
      '[1,"dup","writer-1","first",0,100]',
      '[1,"dup","writer-1","first again",0,100]', // a resent PUBLISH
      '[1,"dup","writer-1","late",0,99]', // overtaken
      '[1,"dup","writer-1","second",0,101]',
      '[1,"dup","writer-2","another origin",0,5]',
      '[1,"dup","python","no seq",0]',
      '[1,"dup","python","no seq",0]',
    ]) {
      await server.cli('PUBLISH', 'fault:dup', frame)
    }
    await server.cli('PUBLISH', 'fault:other', '[1,"other","writer-1","other type",0,50]')
    await waitFor(() => seen.length === 6, { timeoutMs: 5_000 })
    expect(seen).toEqual(['first', 'second', 'another origin', 'no seq', 'no seq', 'other type'])
    expect(b.target.stats().dropped).toBe(2)
    // Each drop is reported, naming the origin and counting its drops.
    expect(
      b.errors.map((error) => [error.code, error.message.match(/from (\S+) .*\((\d+) from it/)?.slice(1)]),
    ).toEqual([
      ['ERR_SEQUENCE', ['writer-1', '1']],
      ['ERR_SEQUENCE', ['writer-1', '2']],
    ])
  })

  it('a node restarted with the same nodeId continues above its old sequence numbers', async () => {
    const b = peer()
    const seen: unknown[] = []
    b.target.addEventListener('restart', (event) => seen.push(event.detail))
    await b.target.flush()
    const first = peer(
      'fault:',
      { publishClient: client(), subscribeClient: client() },
      { nodeId: 'fixed-id' },
    )
    await first.target.ready
    first.target.dispatchEvent(new CustomEvent('restart', { detail: 'before' }))
    await first.target.close()
    const second = peer(
      'fault:',
      { publishClient: client(), subscribeClient: client() },
      { nodeId: 'fixed-id' },
    )
    await second.target.ready
    second.target.dispatchEvent(new CustomEvent('restart', { detail: 'after' }))
    await second.target.flush()
    await waitFor(() => seen.length === 2, { timeoutMs: 5_000 })
    expect(seen).toEqual(['before', 'after'])
  })

  it('reports a message that is not a valid frame, counts it, and still delivers the next valid one', async () => {
    const a = peer()
    const b = peer()
    const seen: unknown[] = []
    b.target.addEventListener('mixed', (event) => seen.push(event.detail))
    await b.target.flush()
    await server.cli('PUBLISH', 'fault:mixed', 'not a frame')
    await server.cli('PUBLISH', 'fault:mixed', '[1,"other-type","x",1]')
    a.target.dispatchEvent(new CustomEvent('mixed', { detail: 'valid' }))
    await waitFor(() => seen.length === 1, { timeoutMs: 5_000 })
    expect(seen).toEqual(['valid'])
    expect(b.errors.map((error) => error.code)).toEqual(['ERR_FRAME_MALFORMED', 'ERR_FRAME_MALFORMED'])
    expect(b.target.stats().dropped).toBe(2)
  })

  it('accepts events published by another program in the documented wire format', async () => {
    const b = peer()
    const seen: unknown[] = []
    b.target.addEventListener('external', (event) => seen.push(event.detail))
    await b.target.flush()
    await server.cli('PUBLISH', 'fault:external', '[1,"external","python-worker",{"n":1}]')
    await server.cli(
      'PUBLISH',
      'fault:external',
      '[4,[1,"external","python-worker",2],[1,"external","python-worker",3]]',
    )
    await waitFor(() => seen.length === 3, { timeoutMs: 5_000 })
    expect(seen).toEqual([{ n: 1 }, 2, 3])
  })

  it('ends subscribed after add/remove/add before Redis answers, and unsubscribed after the last remove', async () => {
    const { target } = peer()
    const listener = () => {}
    target.addEventListener('race', listener)
    target.removeEventListener('race', listener)
    target.addEventListener('race', listener)
    await target.flush()
    expect(await numsub('fault:race')).toBe(1)
    target.removeEventListener('race', listener)
    target.addEventListener('race', listener)
    target.removeEventListener('race', listener)
    await target.flush()
    expect(await numsub('fault:race')).toBe(0)
  })

  it('leaves no subscription behind after churning 10,000 types', async () => {
    const { target } = peer('churn:')
    const listener = () => {}
    for (let i = 0; i < 10_000; i++) target.addEventListener(`type-${i}`, listener)
    await target.flush()
    expect(Number(await server.cli('PUBSUB', 'NUMPAT'))).toBe(0)
    expect((await server.cli('PUBSUB', 'CHANNELS', 'churn:*')).split('\n')).toHaveLength(10_000)
    for (let i = 0; i < 10_000; i++) target.removeEventListener(`type-${i}`, listener)
    await target.flush()
    expect(await server.cli('PUBSUB', 'CHANNELS', 'churn:*')).toBe('')
    expect(target.stats().subscriptions).toBe(0)
  })

  it('holds interest added before the subscribe client is ready until it is (no failed ready check)', async () => {
    // Between 'connect' and 'ready' ioredis runs its ready check (INFO); a SUBSCRIBE queued then would put
    // the connection in subscriber mode under it, fail the check and drop the connection.
    const b = peer()
    await once(b.subscribeClient, 'connect')
    const got: unknown[] = []
    b.target.addEventListener('early', (event) => got.push(event.detail))
    const gone = () => {}
    b.target.addEventListener('gone', gone)
    b.target.removeEventListener('gone', gone)
    const a = peer()
    await Promise.all([a.target.ready, b.target.ready, b.target.flush()])
    expect(await numsub('fault:early')).toBe(1)
    expect(await numsub('fault:gone')).toBe(0)
    a.target.dispatchEvent(new CustomEvent('early', { detail: 'delivered' }))
    await waitFor(() => got.length === 1, { timeoutMs: 5_000 })
    expect(got).toEqual(['delivered'])
    expect(b.errors).toEqual([])
    expect(b.statuses.map((status) => status.type)).toEqual(['connecting', 'connected'])
  })

  it('reports a subscribe client that cannot connect, holds its interest, and still closes at once', async () => {
    const deadPort = await freePort()
    const subscribeClient = new Redis(deadPort, '127.0.0.1', { lazyConnect: true, retryStrategy: () => null })
    cleanup.push(async () => subscribeClient.disconnect())
    const { target, errors } = peer('fault:', { publishClient: client(), subscribeClient })
    target.addEventListener('offline', () => {})
    await waitFor(() => errors.length > 0, { timeoutMs: 5_000 })
    expect(errors.every((error) => error.code === 'ERR_CONNECTION')).toBe(true)
    await expect(target.ready).rejects.toMatchObject({ code: 'ERR_CONNECTION' })
    await target.close()
  })

  it('close() unsubscribes its channels but leaves the clients open', async () => {
    const { target, subscribeClient, publishClient } = peer()
    target.addEventListener('bye', () => {})
    await target.flush()
    expect(await numsub('fault:bye')).toBe(1)
    await target.close()
    expect(await numsub('fault:bye')).toBe(0)
    expect(subscribeClient.status).toBe('ready')
    expect(await publishClient.ping()).toBe('PONG')
  })

  it('refuses one client for both roles and other invalid options, naming them', () => {
    const shared = client({ lazyConnect: true })
    expect(() => createRedisEventTarget({ publishClient: shared, subscribeClient: shared })).toThrow(
      /subscribeClient/,
    )
    expect(() => createRedisEventTarget({ publishClient: {} as never, subscribeClient: shared })).toThrow(
      /publishClient/,
    )
    expect(() =>
      createRedisEventTarget({
        publishClient: client({ lazyConnect: true }),
        subscribeClient: shared,
        prefix: 5 as never,
      }),
    ).toThrow(/prefix/)
    expect(() =>
      createRedisEventTarget({
        publishClient: client({ lazyConnect: true }),
        subscribeClient: shared,
        offlineQueueSize: -1,
      }),
    ).toThrow(/offlineQueueSize/)
  })
})
