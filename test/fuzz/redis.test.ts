import fc from 'fast-check'
import { Redis } from 'ioredis'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { createRedisEventTarget } from '../../src/event-target-redis/index.js'
import { waitFor } from '../../src/testing/index.js'
import { RedisServer } from '../support/redis-server.js'
import { anyText, countRuns, executedRuns, expectDecodeError, fuzzRuns, fuzzTimeoutMs } from './support.js'

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
  console.log(`fuzz redis: ${executedRuns()} runs`)
})

function connection(): Redis {
  const redis = new Redis(server.port, '127.0.0.1')
  cleanup.push(() => redis.disconnect())
  return redis
}

/**
 * Two Redis targets on a real redis-server, and a raw client that publishes whatever it likes on their
 * channel. The receiver uses tight limits, so oversized messages are fuzzed as well.
 */
async function setUp() {
  const errors: unknown[] = []
  const receiver = createRedisEventTarget({
    publishClient: connection(),
    subscribeClient: connection(),
    prefix: 'fz:',
    limits: { maxFrameBytes: 512, maxTypeLength: 64, maxBatchFrames: 8 },
    onError: (error) => errors.push(error),
  })
  const sender = createRedisEventTarget({
    publishClient: connection(),
    subscribeClient: connection(),
    prefix: 'fz:',
  })
  cleanup.push(
    () => receiver.close(),
    () => sender.close(),
  )
  const markers: number[] = []
  receiver.addEventListener('fuzz', (event) => {
    const detail = event.detail as { marker?: unknown } | null
    if (typeof detail?.marker === 'number') markers.push(detail.marker)
  })
  await Promise.all([receiver.ready, sender.ready])
  await receiver.flush()
  return { receiver, sender, errors, markers, raw: connection() }
}

/** Messages aimed at the "fuzz" channel: noise, near-miss frames, and frames of another type. */
const message = fc.oneof(
  anyText,
  fc.jsonValue({ maxDepth: 2 }).map((detail) => JSON.stringify([1, 'fuzz', 'forger', detail])),
  fc.string({ minLength: 1, maxLength: 8 }).map((type) => JSON.stringify([1, type, 'forger', null])),
  fc.string({ minLength: 513, maxLength: 600 }),
)

describe('Redis channel messages', () => {
  it(
    'fuzzed strings published through a real redis-server: typed errors only, and valid events still arrive',
    async () => {
      const { sender, errors, markers, raw } = await setUp()
      let n = 0
      await fc.assert(
        fc.asyncProperty(fc.array(message, { minLength: 1, maxLength: 6 }), async (messages) => {
          const pipeline = raw.pipeline()
          for (const text of messages) pipeline.publish('fz:fuzz', text)
          await pipeline.exec()
          n++
          const expected = n
          sender.dispatchEvent(new CustomEvent('fuzz', { detail: { marker: expected } }))
          await waitFor(() => markers.at(-1) === expected, { timeoutMs: 5_000, intervalMs: 1 })
        }),
        { numRuns: countRuns(fuzzRuns(0.05)) },
      )
      expect(markers).toEqual(Array.from({ length: n }, (_, i) => i + 1))
      expect(errors.length).toBeGreaterThan(0)
      for (const error of errors) expectDecodeError(error)
    },
    fuzzTimeoutMs(0.05 * 20),
  )

  it(
    'bursts of fuzzed messages in one pipeline, each followed by a valid event: delivered, and every refusal counted',
    async () => {
      const { receiver, sender, errors, markers, raw } = await setUp()
      const messages = fc.sample(fc.oneof(anyText, fc.string({ minLength: 513, maxLength: 600 })), {
        numRuns: countRuns(fuzzRuns()),
        seed: 9,
      })
      // Bursts stay well under Redis's output buffer limit for subscribers (8 MB), past which Redis
      // would drop the subscriber connection, and the event after the burst with it.
      const BURST = 5_000
      for (let start = 0, burst = 1; start < messages.length; start += BURST, burst++) {
        const pipeline = raw.pipeline()
        for (const text of messages.slice(start, start + BURST)) pipeline.publish('fz:fuzz', text)
        await pipeline.exec()
        sender.dispatchEvent(new CustomEvent('fuzz', { detail: { marker: burst } }))
        await waitFor(() => markers.includes(burst), { timeoutMs: 20_000 })
      }
      for (const error of errors) expectDecodeError(error)
      expect(receiver.stats().dropped).toBeGreaterThanOrEqual(errors.length)
      expect(errors.length).toBeGreaterThan(messages.length / 2)
    },
    fuzzTimeoutMs(),
  )
})
