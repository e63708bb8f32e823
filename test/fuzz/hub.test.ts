import fc from 'fast-check'
import { afterAll, afterEach, describe, expect, it } from 'vitest'
import { createCloneCodec, type FrameCodec } from '../../src/core/codec.js'
import { EventwireError } from '../../src/core/errors.js'
import { Hub, type HubOptions } from '../../src/core/hub.js'
import { createMemoryConnector } from '../../src/core/memory-link.js'
import { Spoke } from '../../src/core/spoke.js'
import { waitFor } from '../../src/testing/index.js'
import {
  anyText,
  countRuns,
  executedRuns,
  expectDecodeError,
  fuzzRuns,
  fuzzTimeoutMs,
  messageLike,
} from './support.js'

afterAll(() => {
  console.log(`fuzz hub: ${executedRuns()} runs`)
})

const cleanup: Array<() => Promise<unknown> | unknown> = []
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step()
})

/** Codes a hub may report about a hostile link. */
const HUB_CODES = new Set([
  'ERR_FRAME_MALFORMED',
  'ERR_FRAME_TOO_LARGE',
  'ERR_SERIALIZE',
  'ERR_PROTOCOL_VERSION',
  'ERR_UNAUTHORIZED',
  'ERR_LIMIT',
  'ERR_OVERFLOW',
  'ERR_TIMEOUT',
  // A spoke's error frame is reported with the code it carries (unknown codes as ERR_CONNECTION).
  'ERR_CONNECTION',
  'ERR_CLOSED',
  'ERR_REMOTE',
  'ERR_ABORTED',
  'ERR_HOP_LIMIT',
  'ERR_INVALID_OPTION',
  'ERR_LISTENER_THREW',
])

/**
 * A hub with two well-behaved spokes (one publishes "good", the other listens), then, per run, a fresh
 * hostile link fed arbitrary messages straight into `HubConnection.receive`. After each run the good
 * spokes must still talk through the hub, and nothing may have escaped as an exception.
 */
async function fuzzHub<W>(
  codec: FrameCodec<W> | undefined,
  garbage: fc.Arbitrary<unknown>,
  hello: unknown,
  options: Pick<HubOptions, 'history'> = {},
) {
  const hubErrors: unknown[] = []
  const hub = new Hub<never, W>({
    ...(codec === undefined ? {} : { codec }),
    ...options,
    // Tight limits, so the limit paths are fuzzed as well.
    maxSubscriptionsPerConnection: 4,
    maxPublishRatePerConnection: 1_000,
    onError: (error) => hubErrors.push(error),
  })
  cleanup.push(() => hub.close())
  const connector = createMemoryConnector<W>(hub)
  const spokeErrors: unknown[] = []
  const spoke = (name: string) => {
    const target = new Spoke<never, W>({
      connect: connector.connect,
      ...(codec === undefined ? {} : { codec }),
      nodeId: name,
      heartbeatIntervalMs: 0,
      onError: (error) => spokeErrors.push(error),
    })
    cleanup.push(() => target.close())
    return target
  }
  const publisher = spoke('publisher')
  const listener = spoke('listener')
  const heard: number[] = []
  listener.addEventListener('good' as never, (event: Event) => {
    const detail = (event as CustomEvent).detail as { n?: unknown } | null
    if (typeof detail?.n === 'number') heard.push(detail.n)
  })
  await Promise.all([publisher.ready, listener.ready])
  await listener.flush()

  let n = 0
  let closes = 0
  await fc.assert(
    fc.asyncProperty(
      fc.boolean(),
      fc.array(garbage, { minLength: 1, maxLength: 6 }),
      async (greet, messages) => {
        const sent: W[] = []
        const connection = hub.accept({
          send: (data) => sent.push(data),
          close: () => {
            closes++
          },
        })
        if (greet) connection.receive(hello)
        for (const message of messages) connection.receive(message)
        connection.closed({ code: 1006, reason: 'fuzz run over' })
        // Every error frame the hub wrote back decodes and carries no stack trace.
        for (const data of sent) {
          const result = hub.codec.decode(data)
          expect(result.ok).toBe(true)
          if (!result.ok) continue
          for (const frame of result.frames) {
            if (frame.kind === 'error') expect(frame.message).not.toMatch(/\n\s+at /)
          }
        }
        n++
        publisher.dispatchEvent(new CustomEvent('good', { detail: { n } }) as never)
        const expected = n
        await waitFor(() => heard.at(-1) === expected, { timeoutMs: 5_000, intervalMs: 1 })
      },
    ),
    { numRuns: countRuns(fuzzRuns(0.25)) },
  )
  for (const error of hubErrors) {
    expect(error).toBeInstanceOf(EventwireError)
    expect(HUB_CODES.has((error as EventwireError).code), (error as EventwireError).code).toBe(true)
  }
  // The good link was served throughout: every event once, in order, and nothing went wrong there.
  expect(heard).toEqual(Array.from({ length: n }, (_, i) => i + 1))
  expect(spokeErrors).toEqual([])
  expect(hub.stats().connections).toBe(2)
  return { hubErrors, closes }
}

describe('a Hub fed garbage keeps serving well-behaved links', () => {
  it(
    'text frames: arbitrary strings and near-miss frames through HubConnection.receive',
    async () => {
      const garbage = fc.oneof(anyText, fc.anything({ maxDepth: 1 }), fc.uint8Array({ maxLength: 16 }))
      const { hubErrors } = await fuzzHub(undefined, garbage, '[0,1,"fuzz","spoke"]')
      expect(hubErrors.length).toBeGreaterThan(0)
    },
    fuzzTimeoutMs(0.25 * 20),
  )

  it(
    'with a history: hostile positions, resumes and answers, and events of the kept type, from a link that resumes',
    async () => {
      const text = fc.string({ maxLength: 70 })
      const number = fc.oneof(
        fc.integer(),
        fc.double(),
        fc.constantFrom(0, 1, Number.MAX_SAFE_INTEGER, 2 ** 53, -1),
      )
      const recovery = fc
        .tuple(
          fc.constantFrom(10, 11, 12),
          fc.oneof(fc.constantFrom('good', 'other'), text),
          fc.oneof(text, number),
          fc.oneof(number, text),
        )
        .map((frame) => JSON.stringify(frame))
      const kept = fc.jsonValue({ maxDepth: 1 }).map((detail) => JSON.stringify([1, 'good', 'x', [detail]]))
      const garbage = fc.oneof(recovery, recovery, kept, anyText)
      const { hubErrors } = await fuzzHub(undefined, garbage, '[0,1,"fuzz","spoke",["resume"]]', {
        history: { types: ['good', 'other'] },
      })
      expect(hubErrors.length).toBeGreaterThan(0)
    },
    fuzzTimeoutMs(0.25 * 20),
  )

  it(
    'structured-clone frames (worker links): arbitrary values through HubConnection.receive',
    async () => {
      const garbage = fc.oneof(
        messageLike,
        fc.anything({ maxDepth: 2, withMap: true, withDate: true, withTypedArray: true, withBigInt: true }),
      )
      const { hubErrors } = await fuzzHub(createCloneCodec(), garbage, [0, 1, 'fuzz', 'spoke'])
      expect(hubErrors.length).toBeGreaterThan(0)
    },
    fuzzTimeoutMs(0.25 * 20),
  )
})

describe('the decoders behind every link', () => {
  it(
    'a decode error from the hub codec is always a typed EventwireError',
    () => {
      const hub = new Hub()
      cleanup.push(() => hub.close())
      fc.assert(
        fc.property(fc.oneof(anyText, fc.anything()), (value) => {
          const result = hub.codec.decode(value)
          if (!result.ok) expectDecodeError(result.error)
        }),
        { numRuns: countRuns(fuzzRuns()) },
      )
    },
    fuzzTimeoutMs(),
  )
})
