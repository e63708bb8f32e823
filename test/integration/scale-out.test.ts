import { Redis } from 'ioredis'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { WebSocket } from 'ws'
import { bridge, scaleOut } from '../../src/bridge/index.js'
import { createRedisEventTarget } from '../../src/event-target-redis/index.js'
import type { EventwireStatus } from '../../src/index.js'
import { waitFor } from '../../src/testing/index.js'
import { RedisServer } from '../support/redis-server.js'
import { client, interruptibleClient, type RunningHub, startHub } from '../support/websocket.js'

let redis: RedisServer
const cleanup: Array<() => Promise<unknown> | unknown> = []

beforeAll(async () => {
  redis = await RedisServer.start()
})
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step()
})
afterAll(async () => {
  await redis?.stop()
})

/** How a hub joins the others through its Redis target: `scaleOut`, or a plain `bridge` as before it. */
type Join = (hub: RunningHub['hub'], redis: ReturnType<typeof createRedisEventTarget>) => { close(): void }
const JOINS: Array<[string, Join]> = [
  ['scaleOut', (hub, redis) => scaleOut(hub, redis)],
  ['bridge', (hub, redis) => bridge(hub, redis)],
]

/** A WebSocket hub joined to Redis with its own pair of connections: one of several scale-out hubs. */
async function scaledHub(
  join: Join,
  options: Parameters<typeof startHub>[0] = {},
): Promise<RunningHub & { link: ReturnType<Join> }> {
  const running = await startHub(options)
  const clients = [new Redis(redis.port, '127.0.0.1'), new Redis(redis.port, '127.0.0.1')]
  const peer = createRedisEventTarget({
    publishClient: clients[0]!,
    subscribeClient: clients[1]!,
    prefix: 'scale:',
  })
  await peer.ready
  const link = join(running.hub, peer)
  cleanup.push(async () => {
    link.close()
    await peer.close()
    for (const redisClient of clients) redisClient.disconnect()
    await running.close()
  })
  return { ...running, link }
}

async function numsub(channel: string): Promise<number> {
  return Number((await redis.cli('PUBSUB', 'NUMSUB', channel)).split('\n')[1])
}

describe.each(JOINS)('several WebSocket hubs joined over one Redis by %s', (_, join) => {
  it('behave as one hub: a spoke on hub 1 reaches a spoke on hub 2, each event once, with interest on Redis', async () => {
    const [one, two] = [await scaledHub(join), await scaledHub(join)]
    const a = client(one.url)
    const b = client(two.url)
    cleanup.push(
      () => a.close(),
      () => b.close(),
    )
    await Promise.all([a.ready, b.ready])
    expect(await numsub('scale:chat')).toBe(0)

    const onB: unknown[] = []
    const onA: unknown[] = []
    const listener = (event: Event) => onB.push((event as CustomEvent).detail)
    b.addEventListener('chat', listener)
    a.addEventListener('chat', (event) => onA.push(event.detail))
    await Promise.all([a.flush(), b.flush()])
    await waitFor(async () => (await numsub('scale:chat')) === 2, { timeoutMs: 5_000 })

    for (const n of [1, 2, 3]) a.dispatchEvent(new CustomEvent('chat', { detail: `a${n}` }))
    b.dispatchEvent(new CustomEvent('chat', { detail: 'b1' }))
    await waitFor(() => onB.length === 4 && onA.length === 4, { timeoutMs: 5_000 })
    await Promise.all([a.flush(), b.flush()])
    expect(onB.filter((d) => String(d).startsWith('a'))).toEqual(['a1', 'a2', 'a3'])
    expect(onA.filter((d) => String(d).startsWith('a'))).toEqual(['a1', 'a2', 'a3'])
    expect([...onA, ...onB].filter((d) => d === 'b1')).toHaveLength(2)

    b.removeEventListener('chat', listener)
    await b.flush()
    // hub 2 no longer wants "chat": its bridge left the channel; hub 1 still wants it.
    await waitFor(async () => (await numsub('scale:chat')) === 1, { timeoutMs: 5_000 })
  })

  it('2 hubs x 20 spokes: 1,000 events from random spokes reach every listening spoke once, in order; a killed hub fails over', async () => {
    const hubs = [await scaledHub(join), await scaledHub(join)]
    const urls = hubs.map((hub) => hub.url)
    const spokes = Array.from({ length: 40 }, (_, i) => {
      // Each spoke prefers its own hub and lists the other for failover.
      const own = i % 2
      const statuses: EventwireStatus[] = []
      const target = client([urls[own]!, urls[1 - own]!], { onStatus: (status) => statuses.push(status) })
      cleanup.push(() => target.close())
      return { target, statuses, received: [] as Array<{ from: number; n: number; type: string }> }
    })
    // Even spokes listen to "even", odd spokes to "odd", every spoke to "all".
    spokes.forEach((spoke, i) => {
      for (const type of [i % 2 === 0 ? 'even' : 'odd', 'all']) {
        spoke.target.addEventListener(type, (event) =>
          spoke.received.push({ ...(event.detail as { from: number; n: number }), type: event.type }),
        )
      }
    })
    await Promise.all(spokes.map((spoke) => spoke.target.ready))
    await Promise.all(spokes.map((spoke) => spoke.target.flush()))
    // Hub 1 serves the even spokes, hub 2 the odd ones: each bridge subscribes to what its spokes want.
    const subscribed = async () =>
      [await numsub('scale:all'), await numsub('scale:even'), await numsub('scale:odd')].join()
    await waitFor(async () => (await subscribed()) === '2,1,1', {
      timeoutMs: 5_000,
      message: 'both bridges subscribed',
    })

    let seed = 7
    const random = () => {
      seed = (seed * 16_807) % 2_147_483_647
      return seed / 2_147_483_647
    }
    const sent = new Map<string, Array<{ from: number; n: number }>>([
      ['even', []],
      ['odd', []],
      ['all', []],
    ])
    for (let n = 0; n < 1_000; n++) {
      const from = Math.floor(random() * spokes.length)
      const type = ['even', 'odd', 'all'][n % 3]!
      const detail = { from, n }
      sent.get(type)!.push(detail)
      spokes[from]!.target.dispatchEvent(new CustomEvent(type, { detail }))
      if (n % 50 === 49) await new Promise((resolve) => setImmediate(resolve))
    }
    const expectedFor = (i: number) =>
      sent.get(i % 2 === 0 ? 'even' : 'odd')!.length + sent.get('all')!.length
    await waitFor(() => spokes.every((spoke, i) => spoke.received.length >= expectedFor(i)), {
      timeoutMs: 20_000,
    })
    await Promise.all(spokes.map((spoke) => spoke.target.flush()))
    spokes.forEach((spoke, i) => {
      const mine = new Set([i % 2 === 0 ? 'even' : 'odd', 'all'])
      const expected = [...mine].flatMap((type) => sent.get(type)!.map((d) => ({ ...d, type })))
      // Exactly once: the same multiset of events.
      const byN = (x: { n: number }, y: { n: number }) => x.n - y.n
      expect([...spoke.received].sort(byN)).toEqual(expected.sort(byN))
      // Per-dispatcher order on each type: a dispatcher's events of one type arrive in dispatch order.
      const streams = new Map<string, number[]>()
      for (const { from, n, type } of spoke.received) {
        const key = `${from}/${type}`
        streams.set(key, [...(streams.get(key) ?? []), n])
      }
      for (const ns of streams.values()) expect(ns).toEqual([...ns].sort((x, y) => x - y))
    })

    // Kill hub 1: its spokes move to hub 2 and keep receiving.
    await hubs[0]!.close()
    const movers = spokes.filter((_, i) => i % 2 === 0)
    await waitFor(() => movers.every((spoke) => spoke.statuses.some((status) => status.type === 'gap')), {
      timeoutMs: 15_000,
      message: 'the spokes of hub 1 moved',
    })
    expect(hubs[1]!.hub.stats().connections).toBe(40)
    await Promise.all(spokes.map((spoke) => spoke.target.flush()))
    for (const spoke of spokes) spoke.received.length = 0
    spokes[1]!.target.dispatchEvent(new CustomEvent('all', { detail: { from: 1, n: 1_000 } }))
    await waitFor(() => spokes.every((spoke) => spoke.received.length === 1), {
      timeoutMs: 5_000,
      message: 'every spoke received the event after failover',
    })
    expect(spokes.map((spoke) => spoke.received[0]!.n)).toEqual(Array(40).fill(1_000))
  })
})

describe('scaleOut', () => {
  const join: Join = (hub, redis) => scaleOut(hub, redis)

  it("carries the hubs' own dispatches and listeners too, and never sends back what came from Redis", async () => {
    const [one, two] = [await scaledHub(join), await scaledHub(join)]
    const a = client(one.url)
    const b = client(two.url)
    cleanup.push(
      () => a.close(),
      () => b.close(),
    )
    const onB: unknown[] = []
    const onHubTwo: unknown[] = []
    b.addEventListener('news', (event) => onB.push(event.detail))
    two.hub.addEventListener('chat', (event) => onHubTwo.push(event.detail))
    await Promise.all([a.ready, b.ready])
    await b.flush()
    await waitFor(async () => (await numsub('scale:news')) === 1 && (await numsub('scale:chat')) === 1, {
      timeoutMs: 5_000,
    })

    for (const n of [1, 2, 3]) one.hub.dispatchEvent(new CustomEvent('news', { detail: n }))
    for (const n of [1, 2]) a.dispatchEvent(new CustomEvent('chat', { detail: `a${n}` }))
    await waitFor(() => onB.length === 3 && onHubTwo.length === 2, { timeoutMs: 5_000 })
    await Promise.all([a.flush(), b.flush()])
    expect(onB).toEqual([1, 2, 3])
    expect(onHubTwo).toEqual(['a1', 'a2'])
    const [statsOne, statsTwo] = [
      (one.link as ReturnType<typeof scaleOut>).stats(),
      (two.link as ReturnType<typeof scaleOut>).stats(),
    ]
    expect(statsOne).toMatchObject({ published: 5, delivered: 0, dropped: 0 })
    // Hub 2 delivered all five (its spoke wants "news", its own listener "chat") and published none back.
    expect(statsTwo).toMatchObject({ published: 0, delivered: 5, dropped: 0, listening: 2 })
  })

  it("relays another hub's events to its spokes in runs, with no identity or hop count added", async () => {
    const [one, two] = [await scaledHub(join), await scaledHub(join)]
    const a = client(one.url)
    cleanup.push(() => a.close())
    const socket = new WebSocket(two.url)
    cleanup.push(() => socket.terminate())
    const messages: string[] = []
    socket.on('message', (data) => messages.push(String(data)))
    await new Promise((resolve, reject) => {
      socket.once('open', resolve)
      socket.once('error', reject)
    })
    socket.send('[4,[0,1,"raw","spoke",["run"]],[2,"burst"],[6,1]]')
    await waitFor(() => messages.some((message) => message.includes('[7,1]')), { timeoutMs: 5_000 })
    await waitFor(async () => (await numsub('scale:burst')) === 1, { timeoutMs: 5_000 })
    await a.ready
    messages.length = 0

    for (let n = 0; n < 50; n++) a.dispatchEvent(new CustomEvent('burst', { detail: { n } }))
    const details = () =>
      messages.flatMap((message) => {
        const frame = JSON.parse(message) as unknown[]
        const frames = frame[0] === 4 ? (frame.slice(1) as unknown[][]) : [frame]
        return frames.flatMap((f) => {
          if (f[0] === 9) return (f.slice(4) as Array<{ n: number }>).map((d) => ({ d, run: true, f }))
          if (f[0] === 1) return [{ d: f[3] as { n: number }, run: false, f }]
          return []
        })
      })
    await waitFor(() => details().length === 50, { timeoutMs: 5_000 })
    const got = details()
    expect(got.map(({ d }) => d.n)).toEqual(Array.from({ length: 50 }, (_, n) => n))
    // In runs, hops 0: a bridged event would have kept its own frame with an identity.
    expect(got.filter(({ run }) => run).length).toBeGreaterThan(40)
    for (const { f } of got) if (f[0] === 9) expect(f[3]).toBe(0)
    for (const { f } of got) if (f[0] === 1) expect(f.length).toBe(4)
  })

  it('close() leaves Redis and stops carrying, both ways', async () => {
    const [one, two, three] = [await scaledHub(join), await scaledHub(join), await scaledHub(join)]
    const spokes = [client(one.url), client(two.url), client(three.url)]
    const received: unknown[][] = [[], [], []]
    spokes.forEach((spoke, i) => {
      cleanup.push(() => spoke.close())
      spoke.addEventListener('chat', (event) => received[i]!.push(event.detail))
    })
    const [a, b] = spokes as [ReturnType<typeof client>, ReturnType<typeof client>]
    await Promise.all(spokes.map((spoke) => spoke.ready))
    await Promise.all(spokes.map((spoke) => spoke.flush()))
    await waitFor(async () => (await numsub('scale:chat')) === 3, { timeoutMs: 5_000 })

    two.link.close()
    two.link.close()
    await waitFor(async () => (await numsub('scale:chat')) === 2, { timeoutMs: 5_000 })
    b.dispatchEvent(new CustomEvent('chat', { detail: 'from b' }))
    await b.flush()
    expect((two.link as ReturnType<typeof scaleOut>).stats()).toMatchObject({ published: 0, listening: 0 })
    // Hub 3 is the witness: it gets what hub 1 publishes, from the same PUBLISH hub 2 would have had.
    a.dispatchEvent(new CustomEvent('chat', { detail: 'from a' }))
    await waitFor(() => received[2]!.includes('from a'), { timeoutMs: 5_000 })
    await Promise.all(spokes.map((spoke) => spoke.flush()))
    // Each spoke has its own event (listeners on the dispatcher get it locally); only hub 3 got one across.
    expect(received).toEqual([['from a'], ['from b'], ['from a']])
  })

  it('with history, a spoke that was away gets what the other hubs published meanwhile: its hub kept wanting the type', async () => {
    const history = { history: { types: ['news'] } }
    const [one, two] = [await scaledHub(join, history), await scaledHub(join, history)]
    const a = client(one.url)
    const statuses: EventwireStatus[] = []
    const b = interruptibleClient(two.url, { onStatus: (status) => statuses.push(status) })
    cleanup.push(
      () => a.close(),
      () => b.target.close(),
    )
    const onB: number[] = []
    b.target.addEventListener('news', (event) => onB.push((event.detail as { n: number }).n))
    await Promise.all([a.ready, b.target.ready])
    await b.target.flush()
    await waitFor(async () => (await numsub('scale:news')) === 2, { timeoutMs: 5_000 })
    a.dispatchEvent(new CustomEvent('news', { detail: { n: 0 } }))
    await waitFor(() => onB.length === 1, { timeoutMs: 5_000 })

    // b was hub 2's only listener of "news"; hub 2 keeps listening on Redis while b is away.
    await b.interrupt()
    for (let n = 1; n <= 50; n++) a.dispatchEvent(new CustomEvent('news', { detail: { n } }))
    await a.flush()
    await waitFor(() => onB.length === 51, { timeoutMs: 10_000, message: 'b recovered the 50 events' })
    await b.target.flush()
    expect(onB).toEqual(Array.from({ length: 51 }, (_, n) => n))
    expect(statuses).toContainEqual(
      expect.objectContaining({ type: 'recovered', eventType: 'news', count: 50 }),
    )
    expect(await numsub('scale:news')).toBe(2)
  })

  it('refuses what is not a hub, the same target twice, and options that are not an object', async () => {
    const running = await scaledHub(join)
    const shared = createRedisEventTarget({ url: redis.url, prefix: 'refuse:' })
    cleanup.push(() => shared.close())
    expect(() => scaleOut(shared, running.hub)).toThrow(
      expect.objectContaining({ code: 'ERR_INVALID_OPTION' }),
    )
    expect(() => scaleOut(running.hub, running.hub)).toThrow(
      expect.objectContaining({ code: 'ERR_INVALID_OPTION' }),
    )
    expect(() => scaleOut(running.hub, shared, null as never)).toThrow(
      expect.objectContaining({ code: 'ERR_INVALID_OPTION' }),
    )
  })
})
