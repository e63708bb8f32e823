import { Redis } from 'ioredis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { EventwireError } from '../../src/core/errors.js'
import { createEvent } from '../../src/core/event-target.js'
import { decodeFrames } from '../../src/core/frame.js'
import type { EventwireStatus } from '../../src/core/types.js'
import { historyKeyBase } from '../../src/event-target-redis/history.js'
import { createRedisEventTarget, type RedisEventTarget } from '../../src/event-target-redis/index.js'
import { waitFor } from '../../src/testing/index.js'
import { RedisServer } from '../support/redis-server.js'

// Redis peers with `history` (docs/recovery.md, "Redis peers"): a receiver whose subscribe connection is
// cut reads what it missed from the type's stream, in order, once, and reports `recovered`, or a gap
// for the type with the reason.

let server: RedisServer
const clients: Redis[] = []
const targets: RedisEventTarget[] = []
let run = 0

beforeAll(async () => {
  server = await RedisServer.start()
})

afterAll(async () => {
  await Promise.all(targets.map((target) => target.close()))
  for (const client of clients) client.disconnect()
  await server?.stop()
})

interface Peer {
  target: RedisEventTarget
  received: number[]
  statuses: EventwireStatus[]
  errors: EventwireError[]
  /** Kills the subscribe connection; it comes back after `ms`. */
  cut: (ms: number) => Promise<void>
}

async function peer(
  name: string,
  prefix: string,
  history: { maxEvents?: number } | undefined,
  listen = true,
  sharded = false,
): Promise<Peer> {
  let retryMs = 20
  const connectionName = `${name}-subscribe-${run}`
  const publishClient = new Redis(server.port, '127.0.0.1', { retryStrategy: () => 20 })
  const subscribeClient = new Redis(server.port, '127.0.0.1', {
    connectionName,
    retryStrategy: () => retryMs,
  })
  clients.push(publishClient, subscribeClient)
  const statuses: EventwireStatus[] = []
  const errors: EventwireError[] = []
  const target = createRedisEventTarget({
    publishClient,
    subscribeClient,
    prefix,
    sharded,
    history: history === undefined ? undefined : { types: ['tick'], ...history },
    onStatus: (status) => statuses.push(status),
    onError: (error) => errors.push(error),
  })
  targets.push(target)
  const received: number[] = []
  if (listen) target.addEventListener('tick', (event) => received.push((event as CustomEvent).detail.n))
  await target.ready
  await target.flush()
  return {
    target,
    received,
    statuses,
    errors,
    cut: async (ms) => {
      const list = await server.cli('CLIENT', 'LIST')
      const id = list
        .split('\n')
        .find((line) => line.includes(` name=${connectionName} `))
        ?.match(/\bid=(\d+)/)?.[1]
      expect(id).toBeDefined()
      retryMs = ms
      const closed = new Promise((resolve) => subscribeClient.once('close', resolve))
      await server.cli('CLIENT', 'KILL', 'ID', id!)
      await closed
      retryMs = 20
    },
  }
}

function prefixFor(name: string): string {
  run++
  return `recovery-${name}-${run}:`
}

/** Every number from 0 to count - 1, once, in order. */
function expectAll(received: number[], count: number): void {
  expect(received.length).toBe(count)
  for (let n = 0; n < count; n++) if (received[n] !== n) expect(received[n]).toBe(n)
}

function send(target: RedisEventTarget, from: number, count: number): void {
  for (let n = from; n < from + count; n++) target.dispatchEvent(createEvent('tick', { n }))
}

function typeStatuses(peer: Peer): EventwireStatus[] {
  return peer.statuses.filter((status) => status.type === 'recovered' || status.type === 'gap')
}

describe('redis peers with history', () => {
  it('a receiver cut for 1 s under 10,000 events/s recovers every event, in order, once', async () => {
    const prefix = prefixFor('steady')
    const receiver = await peer('receiver', prefix, {})
    const sender = await peer('sender', prefix, { maxEvents: 100_000 }, false)
    let next = 0
    // 100 events every 10 ms.
    const timer = setInterval(() => {
      send(sender.target, next, 100)
      next += 100
    }, 10)
    try {
      await waitFor(() => receiver.received.length >= 2_000, { timeoutMs: 5_000, message: 'live events' })
      const cutAt = next
      await receiver.cut(1_000)
      await waitFor(() => receiver.statuses.some((status) => status.type === 'recovered'), {
        timeoutMs: 8_000,
        message: 'recovered',
      })
      // Events dispatched during the cut: about 10,000.
      expect(next - cutAt).toBeGreaterThan(5_000)
      const recoveredAt = next
      await waitFor(() => receiver.received.length >= recoveredAt + 1_000, {
        timeoutMs: 5_000,
        message: 'live again',
      })
    } finally {
      clearInterval(timer)
    }
    await sender.target.flush()
    await waitFor(() => receiver.received.length >= next, { timeoutMs: 5_000, message: 'every event' })
    expectAll(receiver.received, next)
    const recovered = typeStatuses(receiver)
    expect(recovered).toHaveLength(1)
    expect(recovered[0]).toMatchObject({ type: 'recovered', eventType: 'tick' })
    expect((recovered[0] as { count: number }).count).toBeGreaterThan(5_000)
    // Only kept types are listened to: no connection-level gap.
    expect(receiver.statuses.filter((status) => status.type === 'gap')).toHaveLength(0)
    expect(receiver.errors).toEqual([])
  }, 20_000)

  it('an old-format receiver (no history) on the same channel receives everything live', async () => {
    const prefix = prefixFor('old')
    const old = await peer('old', prefix, undefined)
    const sender = await peer('sender', prefix, {}, false)
    // What an older node decodes: the frames as published, positions in the `id` slot.
    const raw = new Redis(server.port, '127.0.0.1')
    clients.push(raw)
    const messages: string[] = []
    raw.on('message', (_channel: string, message: string) => messages.push(message))
    await raw.subscribe(`${prefix}tick`)
    send(sender.target, 0, 1)
    await Promise.resolve()
    send(sender.target, 1, 499)
    await sender.target.flush()
    await waitFor(() => old.received.length >= 500 && messages.length >= 2, { timeoutMs: 5_000 })
    expectAll(old.received, 500)
    expect(old.errors).toEqual([])
    for (const message of messages) {
      const decoded = decodeFrames(message)
      expect(decoded.ok).toBe(true)
    }
    const single = decodeFrames(messages[0]!)
    expect(single.ok && single.frames[0]).toMatchObject({
      kind: 'event',
      type: 'tick',
      id: expect.stringMatching(/^@1:/),
    })
  })

  it('reports a gap with reason epoch when the stream was deleted, and replays the new one', async () => {
    const prefix = prefixFor('epoch')
    const receiver = await peer('receiver', prefix, {})
    const sender = await peer('sender', prefix, {}, false)
    send(sender.target, 0, 10)
    await waitFor(() => receiver.received.length >= 10, { timeoutMs: 5_000 })
    await receiver.cut(400)
    send(sender.target, 10, 10)
    await sender.target.flush()
    const base = historyKeyBase(prefix, 'tick')
    await server.cli('DEL', `${base}:history`, `${base}:meta`)
    send(sender.target, 20, 10)
    await sender.target.flush()
    await waitFor(() => typeStatuses(receiver).length > 0, { timeoutMs: 5_000, message: 'gap' })
    expect(typeStatuses(receiver)).toEqual([
      expect.objectContaining({ type: 'gap', eventType: 'tick', reason: 'epoch' }),
    ])
    send(sender.target, 30, 10)
    await sender.target.flush()
    await waitFor(() => receiver.received.length >= 30, { timeoutMs: 5_000 })
    // 10 to 19 went with the old stream; the new stream's 20 to 29 are replayed, then live ones.
    expect(receiver.received).toEqual([...range(0, 10), ...range(20, 20)])
  })

  it('reports a gap with reason too-old when the stream was trimmed past the receiver', async () => {
    const prefix = prefixFor('trim')
    const receiver = await peer('receiver', prefix, {})
    const sender = await peer('sender', prefix, { maxEvents: 10 }, false)
    send(sender.target, 0, 10)
    await waitFor(() => receiver.received.length >= 10, { timeoutMs: 5_000 })
    await receiver.cut(400)
    // Past a stream node (100 entries), so `MAXLEN ~ 10` trims the receiver's next entry.
    for (let n = 10; n < 1_010; n += 50) {
      send(sender.target, n, 50)
      await sender.target.flush()
    }
    await waitFor(() => typeStatuses(receiver).length > 0, { timeoutMs: 5_000, message: 'gap' })
    expect(typeStatuses(receiver)).toEqual([
      expect.objectContaining({ type: 'gap', eventType: 'tick', reason: 'too-old' }),
    ])
    send(sender.target, 1_010, 10)
    await sender.target.flush()
    await waitFor(() => receiver.received.at(-1) === 1_019, { timeoutMs: 5_000 })
    expect(receiver.received.slice(-10)).toEqual(range(1_010, 10))
  })

  it('skips hostile stream entries with a typed error and replays every other one', async () => {
    const prefix = prefixFor('hostile')
    const receiver = await peer('receiver', prefix, {})
    const sender = await peer('sender', prefix, {}, false)
    send(sender.target, 0, 5)
    await waitFor(() => receiver.received.length >= 5, { timeoutMs: 5_000 })
    await receiver.cut(400)
    const { history } = { history: `${historyKeyBase(prefix, 'tick')}:history` }
    send(sender.target, 5, 5)
    await sender.target.flush()
    await server.cli('XADD', history, '0-*', 'x', 'garbage')
    await server.cli('XADD', history, '0-*', 't', 'soon', 'o', 'mallory', 'd', '{not json', 'h', '0')
    send(sender.target, 10, 5)
    await sender.target.flush()
    await waitFor(() => typeStatuses(receiver).length > 0, { timeoutMs: 5_000, message: 'recovered' })
    expect(typeStatuses(receiver)).toEqual([{ type: 'recovered', eventType: 'tick', count: 10 }])
    await waitFor(() => receiver.received.length >= 15, { timeoutMs: 5_000 })
    expectAll(receiver.received, 15)
    expect(receiver.errors.map((error) => error.code).sort()).toEqual([
      'ERR_FRAME_MALFORMED',
      'ERR_SERIALIZE',
    ])
  })

  it('a frame with a forged position moves nothing past the next real event', async () => {
    const prefix = prefixFor('forged')
    const receiver = await peer('receiver', prefix, {})
    const sender = await peer('sender', prefix, {}, false)
    // Any client of the server can publish: a frame claiming a position far ahead, in the current epoch.
    const raw = new Redis(server.port, '127.0.0.1')
    clients.push(raw)
    send(sender.target, 0, 1)
    await waitFor(() => receiver.received.length >= 1, { timeoutMs: 5_000 })
    const meta = `${historyKeyBase(prefix, 'tick')}:meta`
    const epoch = await raw.hget(meta, 'epoch')
    await raw.publish(
      `${prefix}tick`,
      JSON.stringify([1, 'tick', 'mallory', { n: -1 }, 0, 1, `@999999:${epoch}`]),
    )
    send(sender.target, 1, 4)
    await waitFor(() => receiver.received.length >= 6, { timeoutMs: 5_000 })
    expect(receiver.received).toEqual([0, -1, 1, 2, 3, 4])
    await receiver.cut(300)
    send(sender.target, 5, 5)
    await sender.target.flush()
    await waitFor(() => typeStatuses(receiver).length > 0, { timeoutMs: 5_000, message: 'recovered' })
    expect(typeStatuses(receiver)).toEqual([{ type: 'recovered', eventType: 'tick', count: 5 }])
    await waitFor(() => receiver.received.length >= 11, { timeoutMs: 5_000 })
    expect(receiver.received.slice(6)).toEqual(range(5, 5))
  })

  it('recovers with sharded pub/sub (SPUBLISH in the script)', async () => {
    const prefix = prefixFor('sharded')
    const receiver = await peer('receiver', prefix, {}, true, true)
    const sender = await peer('sender', prefix, {}, false, true)
    send(sender.target, 0, 100)
    await waitFor(() => receiver.received.length >= 100, { timeoutMs: 5_000 })
    await receiver.cut(300)
    send(sender.target, 100, 1_000)
    await sender.target.flush()
    await waitFor(() => typeStatuses(receiver).length > 0, { timeoutMs: 5_000, message: 'recovered' })
    expect(typeStatuses(receiver)).toEqual([{ type: 'recovered', eventType: 'tick', count: 1_000 }])
    send(sender.target, 1_100, 100)
    await waitFor(() => receiver.received.length >= 1_200, { timeoutMs: 5_000 })
    expectAll(receiver.received, 1_200)
    expect(receiver.errors).toEqual([])
  })

  it('refuses history with auth, and with yoga wire format', () => {
    const publishClient = new Redis(server.port, '127.0.0.1', { lazyConnect: true })
    const subscribeClient = new Redis(server.port, '127.0.0.1', { lazyConnect: true })
    clients.push(publishClient, subscribeClient)
    expect(() =>
      createRedisEventTarget({
        publishClient,
        subscribeClient,
        history: { types: ['tick'] },
        auth: { keys: ['0123456789abcdef0123'] },
      }),
    ).toThrow(expect.objectContaining({ code: 'ERR_INVALID_OPTION' }))
    expect(() =>
      createRedisEventTarget({
        publishClient,
        subscribeClient,
        history: { types: ['tick'] },
        wireFormat: 'graphql-yoga',
      }),
    ).toThrow(expect.objectContaining({ code: 'ERR_INVALID_OPTION' }))
  })
})

function range(from: number, count: number): number[] {
  return Array.from({ length: count }, (_, i) => from + i)
}
