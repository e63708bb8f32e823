import { Redis } from 'ioredis'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { createRedisEventTarget, type RedisEventTargetOptions } from '../../src/event-target-redis/index.js'
import type { EventwireError } from '../../src/index.js'
import { waitFor } from '../../src/testing/index.js'
import { RedisServer } from '../support/redis-server.js'

// What a client of the Redis server who is not an eventwire node can do to the nodes on it, over a real
// redis-server: forge or replay frames. Without keys, a forged sequence number silences an origin for at
// most 10 s and every drop is reported; with shared keys, unsigned frames are dropped and reported.

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

function redis(): Redis {
  const client = new Redis(server.port, '127.0.0.1', { retryStrategy: () => 50 })
  cleanup.push(async () => client.disconnect())
  return client
}

async function peer(options: Partial<RedisEventTargetOptions> = {}) {
  const errors: EventwireError[] = []
  const target = createRedisEventTarget({
    publishClient: redis(),
    subscribeClient: redis(),
    prefix: 'trust:',
    onError: (error) => errors.push(error),
    ...options,
  })
  cleanup.push(() => target.close())
  await target.ready
  return { target, errors }
}

/** The sequence number a node would use now: the clock in µs. */
const nowMicros = () => Math.floor((performance.timeOrigin + performance.now()) * 1000)

describe('redis: forged and replayed frames', () => {
  it('one frame with the largest sequence number does not silence its origin: the next real event is taken as new, and reported', async () => {
    const a = await peer({ nodeId: 'victim' })
    const b = await peer()
    const got: number[] = []
    b.target.addEventListener('news', (event) => got.push(event.detail as number))
    await b.target.flush()
    a.target.dispatchEvent(new CustomEvent('news', { detail: 0 }))
    await waitFor(() => got.length === 1, { timeoutMs: 5_000 })
    const forger = redis()
    await forger.publish('trust:news', JSON.stringify([1, 'news', 'victim', 'forged', 0, 2 ** 53 - 1]))
    await waitFor(() => got.length === 2, { timeoutMs: 5_000 })
    for (let n = 1; n <= 100; n++) a.target.dispatchEvent(new CustomEvent('news', { detail: n }))
    await waitFor(() => got.length === 102, { timeoutMs: 5_000 })
    expect(got.filter((detail) => typeof detail === 'number')).toEqual(
      Array.from({ length: 101 }, (_, n) => n),
    )
    expect(b.errors.some((error) => error.code === 'ERR_SEQUENCE' && error.message.includes('victim'))).toBe(
      true,
    )
  })

  it('a frame forged a little ahead silences its origin for no longer than that lead, and each drop is reported by origin', async () => {
    const a = await peer({ nodeId: 'victim' })
    const b = await peer()
    const got: Array<{ n: number; at: number }> = []
    b.target.addEventListener('news', (event) => {
      if (typeof event.detail === 'number') got.push({ n: event.detail, at: Date.now() })
    })
    await b.target.flush()
    a.target.dispatchEvent(new CustomEvent('news', { detail: 0 }))
    await waitFor(() => got.length === 1, { timeoutMs: 5_000 })
    const leadMs = 1_000
    const forgedAt = Date.now()
    await redis().publish(
      'trust:news',
      JSON.stringify([1, 'news', 'victim', 'forged', 0, nowMicros() + leadMs * 1000]),
    )
    let n = 1
    await waitFor(
      () => {
        a.target.dispatchEvent(new CustomEvent('news', { detail: n++ }))
        return got.length > 1 && got.at(-1)!.at - forgedAt > 200
      },
      { timeoutMs: 5_000, intervalMs: 20 },
    )
    const firstAfter = got[1]!
    // Silenced for at most the lead (plus the time to publish and deliver), never longer.
    expect(firstAfter.at - forgedAt).toBeLessThan(leadMs + 500)
    expect(b.target.stats().dropped).toBeGreaterThan(0)
    const reports = b.errors.filter((error) => error.code === 'ERR_SEQUENCE')
    expect(reports.length).toBeGreaterThan(0)
    expect(reports.length).toBeLessThanOrEqual(10 * Math.ceil((Date.now() - forgedAt) / 1000 + 1))
    expect(reports[0]?.message).toContain('victim')
    // Everything after the silence arrived, in order.
    const after = got.slice(1).map((entry) => entry.n)
    expect(after).toEqual([...after].sort((x, y) => x - y))
  })
})

describe('redis: shared-key authentication', () => {
  const keys = ['k1-0123456789abcdef', 'k2-0123456789abcdef']

  it('delivers signed frames, drops and reports frames that no key signed, and accepts either of two keys', async () => {
    const a = await peer({ nodeId: 'victim', auth: { keys: [keys[1]!, keys[0]!] } })
    const b = await peer({ auth: { keys } })
    const got: unknown[] = []
    b.target.addEventListener('news', (event) => got.push(event.detail))
    await b.target.flush()
    await redis().publish('trust:news', JSON.stringify([1, 'news', 'victim', 'forged', 0, 2 ** 53 - 1]))
    await redis().publish('trust:news', `~${'A'.repeat(43)}${JSON.stringify([1, 'news', 'x', 'bad mac'])}`)
    for (const n of [1, 2, 3]) a.target.dispatchEvent(new CustomEvent('news', { detail: n }))
    await waitFor(() => got.length === 3, { timeoutMs: 5_000 })
    await a.target.flush()
    expect(got).toEqual([1, 2, 3])
    await waitFor(() => b.errors.filter((error) => error.code === 'ERR_UNAUTHORIZED').length === 2, {
      timeoutMs: 5_000,
    })
    expect(b.target.stats().dropped).toBe(2)
  })

  it('a node without the key is not heard by a node with it, and the other way round fails loudly too', async () => {
    const signed = await peer({ auth: { keys: [keys[0]!] } })
    const plain = await peer()
    const atSigned: unknown[] = []
    const atPlain: unknown[] = []
    signed.target.addEventListener('news', (event) => atSigned.push(event.detail))
    plain.target.addEventListener('news', (event) => atPlain.push(event.detail))
    await Promise.all([signed.target.flush(), plain.target.flush()])
    plain.target.dispatchEvent(new CustomEvent('news', { detail: 'unsigned' }))
    signed.target.dispatchEvent(new CustomEvent('news', { detail: 'signed' }))
    await waitFor(() => signed.errors.length > 0 && plain.errors.length > 0, { timeoutMs: 5_000 })
    expect(atSigned).toEqual(['signed'])
    expect(atPlain).toEqual(['unsigned'])
    expect(signed.errors[0]?.code).toBe('ERR_UNAUTHORIZED')
    expect(plain.errors[0]?.code).toBe('ERR_FRAME_MALFORMED')
  })

  it('refuses keys shorter than 16 bytes or an empty list at construction', () => {
    expect(() =>
      createRedisEventTarget({ publishClient: redis(), subscribeClient: redis(), auth: { keys: [] } }),
    ).toThrow(/auth\.keys/)
    expect(() =>
      createRedisEventTarget({ publishClient: redis(), subscribeClient: redis(), auth: { keys: ['short'] } }),
    ).toThrow(/auth\.keys/)
  })
})
