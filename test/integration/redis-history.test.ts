import { Cluster, Redis } from 'ioredis'
import { Redis as Redis6 } from 'ioredis6'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { EventwireError } from '../../src/core/errors.js'
import type { HistoryPosition, HistorySince } from '../../src/core/history.js'
import {
  createRedisHistory,
  type RedisHistory,
  type RedisHistoryOptions,
} from '../../src/event-target-redis/index.js'
import { waitFor } from '../../src/testing/index.js'
import { RedisClusterServers, RedisServer } from '../support/redis-server.js'

const cleanup: Array<() => Promise<unknown>> = []
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step().catch(() => {})
})

function clock(start = 1_000_000) {
  let now = start
  return {
    now: () => now,
    advance: (ms: number) => {
      now += ms
    },
  }
}

function offsets(result: HistorySince): number[] {
  if (!result.recovered) throw new Error(`not recovered: ${result.reason}`)
  return result.entries.map((entry) => entry.offset)
}

function range(from: number, to: number): number[] {
  return Array.from({ length: to - from + 1 }, (_, i) => from + i)
}

/** Appends `count` numbered events in one go (they share scripts) and waits for every position. */
function appendMany(store: RedisHistory, type: string, count: number, from = 0): Promise<HistoryPosition[]> {
  const positions: Array<Promise<HistoryPosition>> = []
  for (let i = from; i < from + count; i++) {
    positions.push(store.append(type, { origin: 'hub-a', text: `{"n":${i}}` }))
  }
  return Promise.all(positions)
}

/** Every entry after `offset`, page by page. */
async function readAll(store: RedisHistory, type: string, epoch: string, offset: number, limit = 1_000) {
  const got: number[] = []
  for (let from = offset; ; ) {
    const result = await store.since(type, epoch, from, { limit })
    const page = offsets(result)
    got.push(...page)
    if (page.length === 0 || page.at(-1) === result.latest.offset) return got
    from = page.at(-1)!
  }
}

describe('Redis history (one redis-server)', () => {
  let server: RedisServer

  beforeAll(async () => {
    server = await RedisServer.start()
  })
  afterAll(async () => {
    await server?.stop()
  })

  function client(): Redis {
    const redis = new Redis(server.port, '127.0.0.1', { retryStrategy: () => 50 })
    // Refused connections while redis-server restarts: expected, and the store reports what matters.
    redis.on('error', () => {})
    cleanup.push(async () => redis.disconnect())
    return redis
  }

  function store(options: Partial<RedisHistoryOptions> = {}): RedisHistory {
    return createRedisHistory({ client: client(), prefix: 'hist:', ...options })
  }

  it('numbers 10,000 events 1 to 10,000 in one epoch, and reads them back from any offset', async () => {
    const history = store({ maxEvents: 20_000 })
    const positions = await appendMany(history, 'orders', 10_000)
    expect(positions.map((position) => position.offset)).toEqual(range(1, 10_000))
    const epoch = positions[0]!.epoch
    expect(new Set(positions.map((position) => position.epoch))).toEqual(new Set([epoch]))
    expect(await history.latest('orders')).toEqual({ epoch, offset: 10_000 })

    expect(await readAll(history, 'orders', epoch, 0)).toEqual(range(1, 10_000))
    for (const from of [1, 777, 4_999, 9_998]) {
      expect(await readAll(history, 'orders', epoch, from, 2_500)).toEqual(range(from + 1, 10_000))
    }
    expect(await history.since('orders', epoch, 10_000)).toEqual({
      recovered: true,
      entries: [],
      latest: { epoch, offset: 10_000 },
    })
    const one = await history.since('orders', epoch, 4_999, { limit: 1 })
    expect(one).toMatchObject({ recovered: true, latest: { epoch, offset: 10_000 } })
    expect((one as unknown as { entries: unknown[] }).entries).toEqual([
      {
        epoch,
        offset: 5_000,
        type: 'orders',
        origin: 'hub-a',
        text: '{"n":4999}',
        detail: undefined,
        hops: 0,
        id: undefined,
        time: expect.any(Number),
      },
    ])
  })

  it('keeps hops, identity, time, and a detail given without text as JSON', async () => {
    const history = store()
    const recent = Date.now() - 1_000
    await history.append('meta', { origin: 'o1', text: '"t"', hops: 3, id: 'ev-1', time: recent })
    const { epoch } = await history.append('meta', { origin: 'o2', detail: { a: [1, 'x'] } })
    const result = await history.since('meta', epoch, 0)
    expect(result.recovered && result.entries).toMatchObject([
      { offset: 1, origin: 'o1', text: '"t"', hops: 3, id: 'ev-1', time: recent },
      { offset: 2, origin: 'o2', text: '{"a":[1,"x"]}', hops: 0, id: undefined },
    ])
    const cyclic: { self?: unknown } = {}
    cyclic.self = cyclic
    expect(() => history.append('meta', { origin: 'o', detail: cyclic })).toThrow(
      expect.objectContaining({ code: 'ERR_SERIALIZE' }),
    )
  })

  it('is shared: another store (a restarted hub) has the same epoch and goes on numbering', async () => {
    const first = store({ maxEvents: 5_000 })
    const [{ epoch }] = (await appendMany(first, 'shared', 5)) as [HistoryPosition]
    const second = store({ maxEvents: 5_000 })
    expect(await second.latest('shared')).toEqual({ epoch, offset: 5 })
    expect(offsets(await second.since('shared', epoch, 2))).toEqual([3, 4, 5])
    // Two writers at once: every offset once, each writer's in the order of its calls.
    const [a, b] = await Promise.all([
      appendMany(first, 'shared', 1_000),
      appendMany(second, 'shared', 1_000),
    ])
    const all = [...a!, ...b!].map((position) => position.offset).sort((x, y) => x - y)
    expect(all).toEqual(range(6, 2_005))
    for (const own of [a!, b!]) {
      const mine = own.map((position) => position.offset)
      expect(mine).toEqual([...mine].sort((x, y) => x - y))
    }
    expect(await readAll(first, 'shared', epoch, 0)).toEqual(range(1, 2_005))
  })

  it('changes the epoch when redis-server restarts without persistence, and works on', async () => {
    const history = store()
    const positions = await appendMany(history, 'restart', 100)
    const before = positions.at(-1)!
    await server.restart()
    const after = await history.latest('restart') // waits for the client to reconnect
    expect(after.epoch).not.toBe(before.epoch)
    expect(after.offset).toBe(0)
    expect(await history.since('restart', before.epoch, before.offset)).toEqual({
      recovered: false,
      reason: 'epoch',
      latest: after,
    })
    // The scripts are gone with the restart: they are loaded again.
    const next = await history.append('restart', { origin: 'o' })
    expect(next).toEqual({ epoch: after.epoch, offset: 1 })
  })

  it('changes the epoch when the stream is deleted; keeps the numbering when only the epoch is', async () => {
    const history = store()
    const keys = history.keys('deleted')
    const { epoch } = (await appendMany(history, 'deleted', 10))[0]!
    await server.cli('DEL', keys.history)
    const renewed = await history.latest('deleted')
    expect(renewed.epoch).not.toBe(epoch)
    expect(renewed.offset).toBe(0)
    expect(await history.since('deleted', epoch, 10)).toMatchObject({ recovered: false, reason: 'epoch' })
    expect(await history.append('deleted', { origin: 'o' })).toEqual({ epoch: renewed.epoch, offset: 1 })

    await appendMany(history, 'deleted', 4)
    await server.cli('DEL', keys.meta)
    const relabelled = await history.latest('deleted')
    expect(relabelled.epoch).not.toBe(renewed.epoch)
    expect(relabelled.offset).toBe(5)
    expect(await history.since('deleted', renewed.epoch, 5)).toMatchObject({
      recovered: false,
      reason: 'epoch',
    })
    expect(offsets(await history.since('deleted', relabelled.epoch, 3))).toEqual([4, 5])
  })

  it('a reader whose entries were trimmed by count is not recovered (too-old); later ones are', async () => {
    const history = store({ maxEvents: 100 })
    const positions = await appendMany(history, 'trimmed', 1_000)
    const { epoch } = positions[0]!
    const length = Number(await server.cli('XLEN', history.keys('trimmed').history))
    // MAXLEN ~ trims whole nodes of the stream (100 entries each by default).
    expect(length).toBeGreaterThanOrEqual(100)
    expect(length).toBeLessThanOrEqual(300)
    expect(await history.since('trimmed', epoch, 10)).toEqual({
      recovered: false,
      reason: 'too-old',
      latest: { epoch, offset: 1_000 },
    })
    expect(offsets(await history.since('trimmed', epoch, 950))).toEqual(range(951, 1_000))
    // Trimmed to nothing by hand: the numbering and the epoch stay, and only the reader that is up to
    // date has lost nothing.
    await server.cli('XTRIM', history.keys('trimmed').history, 'MAXLEN', '0')
    expect(await history.since('trimmed', epoch, 999)).toMatchObject({ recovered: false, reason: 'too-old' })
    expect(offsets(await history.since('trimmed', epoch, 1_000))).toEqual([])
    expect(await history.append('trimmed', { origin: 'o' })).toEqual({ epoch, offset: 1_001 })
  })

  it('bounds entries by age with the injected clock: too old to replay, then trimmed', async () => {
    const time = clock()
    const history = store({ maxAgeMs: 1_000, now: time.now })
    const key = history.keys('aged').history
    const { epoch } = (await appendMany(history, 'aged', 5))[0]!
    time.advance(600)
    await appendMany(history, 'aged', 5)
    time.advance(600) // the first five are 1,200 ms old, the next five 600 ms
    expect(await history.since('aged', epoch, 0)).toMatchObject({ recovered: false, reason: 'too-old' })
    expect(offsets(await history.since('aged', epoch, 5))).toEqual(range(6, 10))
    expect(await server.cli('XLEN', key)).toBe('10')
    await history.append('aged', { origin: 'o' })
    expect(await server.cli('XLEN', key)).toBe('6')
    time.advance(5_000)
    // Up to date after a long quiet time: nothing was lost.
    expect(offsets(await history.since('aged', epoch, 11))).toEqual([])
    expect(await history.since('aged', epoch, 10)).toMatchObject({ recovered: false, reason: 'too-old' })
    expect(await history.append('aged', { origin: 'o' })).toEqual({ epoch, offset: 12 })
    expect(await server.cli('XLEN', key)).toBe('1')
  })

  it('answers "ahead" for an offset beyond the latest, and refuses wrong arguments at once', async () => {
    const history = store()
    const { epoch } = (await appendMany(history, 'hostile', 3))[0]!
    expect(await history.since('hostile', epoch, 4)).toMatchObject({ recovered: false, reason: 'ahead' })
    expect(await history.since('hostile', epoch, Number.MAX_SAFE_INTEGER)).toMatchObject({
      recovered: false,
      reason: 'ahead',
    })
    const since = history.since as (...args: unknown[]) => Promise<HistorySince>
    const append = history.append as (...args: unknown[]) => Promise<HistoryPosition>
    const calls: Array<() => unknown> = [
      () => since.call(history, 'hostile', 42, 0),
      () => since.call(history, 'hostile', 'x'.repeat(100_000), 0),
      () => since.call(history, 'hostile', epoch, -1),
      () => since.call(history, 'hostile', epoch, 2 ** 60),
      () => since.call(history, 'hostile', epoch, '3'),
      () => since.call(history, '', epoch, 0),
      () => since.call(history, 'hostile', epoch, 0, { limit: 0 }),
      () => append.call(history, 'hostile', { origin: 7 }),
      () => append.call(history, 'x'.repeat(300), { origin: 'o' }),
      () => history.latest(undefined as unknown as string),
    ]
    for (const call of calls) {
      expect(call).toThrow(EventwireError)
      expect(call).toThrow(expect.objectContaining({ code: 'ERR_INVALID_OPTION' }))
    }
    // A huge limit is capped: one call reads at most 10,000 entries.
    expect(offsets(await history.since('hostile', epoch, 0, { limit: 1e9 }))).toEqual([1, 2, 3])
    expect(await history.latest('hostile')).toEqual({ epoch, offset: 3 })
  })

  it('keeps entries of any age with maxAgeMs Infinity, and sees a hole made by hand as too-old', async () => {
    const time = clock()
    const history = store({ maxAgeMs: Number.POSITIVE_INFINITY, now: time.now })
    const { epoch } = (await appendMany(history, 'forever', 10))[0]!
    time.advance(1e12)
    await history.append('forever', { origin: 'o' })
    expect(offsets(await history.since('forever', epoch, 0))).toEqual(range(1, 11))
    await server.cli('XDEL', history.keys('forever').history, '0-5')
    expect(await history.since('forever', epoch, 2)).toMatchObject({ recovered: false, reason: 'too-old' })
    expect(offsets(await history.since('forever', epoch, 5))).toEqual(range(6, 11))
  })

  it('works the same with an ioredis 6 client, across a restart', async () => {
    const redis6 = new Redis6(server.port, '127.0.0.1', { retryStrategy: () => 50 })
    redis6.on('error', () => {})
    cleanup.push(async () => redis6.disconnect())
    const history = createRedisHistory({
      client: redis6 as unknown as Redis,
      prefix: 'six:',
      maxEvents: 5_000,
    })
    const positions = await appendMany(history, 'orders', 2_000)
    expect(positions.map((position) => position.offset)).toEqual(range(1, 2_000))
    const { epoch } = positions[0]!
    expect(await readAll(history, 'orders', epoch, 500)).toEqual(range(501, 2_000))
    await server.restart()
    const after = await history.latest('orders')
    expect(after.epoch).not.toBe(epoch)
    expect(await history.since('orders', epoch, 2_000)).toMatchObject({ recovered: false, reason: 'epoch' })
  })

  it('reports Redis failures as ERR_CONNECTION', async () => {
    const redis = new Redis(server.port, '127.0.0.1', { lazyConnect: true, enableOfflineQueue: false })
    cleanup.push(async () => redis.disconnect())
    const history = createRedisHistory({ client: redis })
    await expect(history.latest('down')).rejects.toMatchObject({ code: 'ERR_CONNECTION' })
    await expect(history.append('down', { origin: 'o' })).rejects.toMatchObject({ code: 'ERR_CONNECTION' })
  })

  it('refuses bad options with ERR_INVALID_OPTION', () => {
    const redis = client()
    const cases: Array<Partial<RedisHistoryOptions>> = [
      { client: {} as Redis },
      { client: redis, maxEvents: 0 },
      { client: redis, maxAgeMs: -1 },
      { client: redis, prefix: 5 as unknown as string },
      { client: redis, maxBatchEvents: 1.5 },
    ]
    for (const options of cases) {
      expect(() => createRedisHistory(options as RedisHistoryOptions)).toThrow(
        expect.objectContaining({ code: 'ERR_INVALID_OPTION' }),
      )
    }
  })
})

describe('Redis history on a Redis Cluster', () => {
  let cluster: RedisClusterServers

  beforeAll(async () => {
    cluster = await RedisClusterServers.start(3)
  })
  afterAll(async () => {
    await cluster?.stop()
  })

  it('keeps each type in its channel slot, so one script can append and SPUBLISH; reads from any offset', async () => {
    const client = new Cluster(cluster.startupNodes, { clusterRetryStrategy: () => 50 })
    client.on('error', () => {})
    cleanup.push(async () => client.disconnect())
    const prefix = 'app:'
    const history = createRedisHistory({ client, prefix })
    const types = ['orders', 'chat', 'c{x}', 'd}e', '{', 'x{}y', 'ünï', '}{a}']
    for (const type of types) {
      const keys = history.keys(type)
      const slot = await cluster.slotOf(prefix + type)
      expect(await cluster.slotOf(keys.history)).toBe(slot)
      expect(await cluster.slotOf(keys.meta)).toBe(slot)
      const { epoch } = (await appendMany(history, type, 300))[0]!
      expect(await readAll(history, type, epoch, 0, 100)).toEqual(range(1, 300))
      expect(offsets(await history.since(type, epoch, 250))).toEqual(range(251, 300))
      // What the keys are placed for: on the slot's node, one script touches both (Redis refuses a
      // shard channel of another slot).
      const published = await client.eval(
        "redis.call('XLEN', KEYS[1]) return redis.call('SPUBLISH', ARGV[1], 'm')",
        1,
        keys.history,
        prefix + type,
      )
      expect(published).toBe(0)
    }
    const distinct = new Set(types.map((type) => history.keys(type).history))
    expect(distinct.size).toBe(types.length)
  })

  it('changes the epoch when the master that holds a type restarts without persistence', async () => {
    const client = new Cluster(cluster.startupNodes, { clusterRetryStrategy: () => 50 })
    client.on('error', () => {})
    cleanup.push(async () => client.disconnect())
    const history = createRedisHistory({ client, prefix: 'restart:' })
    const before = (await appendMany(history, 'orders', 50)).at(-1)!
    const owner = await cluster.ownerOf(await cluster.slotOf(history.keys('orders').history))
    await owner.restart()
    await cluster.waitHealthy()
    const after = (await waitFor(() => history.latest('orders').catch(() => undefined), {
      timeoutMs: 20_000,
      intervalMs: 100,
      message: 'the history answers again',
    }))!
    expect(after.epoch).not.toBe(before.epoch)
    expect(await history.since('orders', before.epoch, before.offset)).toMatchObject({
      recovered: false,
      reason: 'epoch',
    })
  })
})
