import fc from 'fast-check'
import { afterAll, describe, expect, it } from 'vitest'
import { createCloneCodec, createTextCodec } from '../../src/core/codec.js'
import { type EventwireErrorCode, isEventwireErrorCode } from '../../src/core/errors.js'
import {
  DEFAULT_FRAME_LIMITS,
  decodeFrames,
  encodeBatch,
  type Frame,
  type FrameLimits,
  validateFrames,
} from '../../src/core/frame.js'
import type { Serializer } from '../../src/core/types.js'
import {
  anyText,
  countRuns,
  element,
  executedRuns,
  expectDecodeError,
  fuzzRuns,
  fuzzTimeoutMs,
  messageLike,
  mutatedText,
} from './support.js'

afterAll(() => {
  console.log(`fuzz frames: ${executedRuns()} runs`)
})

/** What a decoded frame must look like, whatever the input was. */
function expectWellFormed(frames: Frame[], limits: FrameLimits): void {
  expect(frames.length).toBeGreaterThan(0)
  expect(frames.length).toBeLessThanOrEqual(limits.maxBatchFrames)
  for (const frame of frames) {
    switch (frame.kind) {
      case 'event':
      case 'sub':
      case 'unsub':
        expect(typeof frame.type).toBe('string')
        expect(frame.type.length).toBeGreaterThan(0)
        expect(frame.type.length).toBeLessThanOrEqual(limits.maxTypeLength)
        if (frame.kind === 'event') {
          expect(frame.origin.length).toBeGreaterThan(0)
          expect(frame.origin.length).toBeLessThanOrEqual(128)
          expect(Number.isSafeInteger(frame.hops) && frame.hops >= 0 && frame.hops <= 255).toBe(true)
        }
        break
      case 'hello':
        expect(Number.isSafeInteger(frame.version)).toBe(true)
        expect(frame.nodeId.length).toBeGreaterThan(0)
        expect([undefined, 'hub', 'spoke', 'peer']).toContain(frame.role)
        break
      case 'ping':
      case 'pong':
        expect(Number.isSafeInteger(frame.id) && frame.id >= 0).toBe(true)
        break
      case 'error':
        expect(isEventwireErrorCode(frame.code)).toBe(true)
        expect(frame.message.length).toBeLessThanOrEqual(1024 + 96)
        break
      case 'bye':
        expect(Number.isSafeInteger(frame.code) && frame.code >= 1000 && frame.code <= 4999).toBe(true)
        expect(frame.reason.length).toBeLessThanOrEqual(123)
        break
      case 'position':
      case 'resume':
      case 'resumed':
        expect(frame.type.length).toBeGreaterThan(0)
        expect(frame.type.length).toBeLessThanOrEqual(limits.maxTypeLength)
        if (frame.kind === 'resumed') {
          expect(['recovered', 'epoch', 'too-old', 'ahead', 'unavailable']).toContain(frame.outcome)
          expect(Number.isSafeInteger(frame.count) && frame.count >= 0).toBe(true)
        } else if (frame.epoch !== undefined) {
          // Epochs are bounded and offsets safe: a hostile position never reaches a store unchecked.
          expect(frame.epoch.length).toBeGreaterThan(0)
          expect(frame.epoch.length).toBeLessThanOrEqual(64)
          expect(Number.isSafeInteger(frame.offset)).toBe(true)
          expect(frame.offset).toBeGreaterThanOrEqual(frame.kind === 'position' ? 1 : 0)
        }
        break
      default:
        throw new Error(`unknown frame kind ${(frame as { kind: unknown }).kind}`)
    }
  }
}

/** The limits a Redis target or a hub may be configured with, including tight ones. */
const limits: fc.Arbitrary<FrameLimits> = fc.oneof(
  fc.constant(DEFAULT_FRAME_LIMITS),
  fc.record({
    maxFrameBytes: fc.integer({ min: 1, max: 256 }),
    maxTypeLength: fc.integer({ min: 1, max: 16 }),
    maxBatchFrames: fc.integer({ min: 1, max: 4 }),
  }),
)

const throwingSerializer: Serializer = {
  stringify: JSON.stringify,
  parse: (text) => {
    if (text.startsWith('!')) throw new SyntaxError('refused by the serializer')
    return JSON.parse(text) as unknown
  },
}

describe('decodeFrames (text frames and batches)', () => {
  it(
    'any text yields well-formed frames or a typed error, never a throw',
    () => {
      fc.assert(
        fc.property(anyText, limits, (text, frameLimits) => {
          const result = decodeFrames(text, frameLimits)
          if (result.ok) expectWellFormed(result.frames, frameLimits)
          else expectDecodeError(result.error)
        }),
        { numRuns: countRuns(fuzzRuns()) },
      )
    },
    fuzzTimeoutMs(),
  )

  it(
    'with a custom serializer, a detail that does not parse is ERR_SERIALIZE and nothing else escapes',
    () => {
      const detail = fc.oneof(fc.string({ maxLength: 12 }), fc.constant('!boom'), element)
      const text = fc.oneof(
        mutatedText,
        fc
          .tuple(fc.string({ minLength: 1, maxLength: 8 }), detail)
          .map(([type, value]) => JSON.stringify([1, type, 'origin', value])),
      )
      fc.assert(
        fc.property(text, (message) => {
          const result = decodeFrames(message, DEFAULT_FRAME_LIMITS, throwingSerializer)
          if (result.ok) expectWellFormed(result.frames, DEFAULT_FRAME_LIMITS)
          else expectDecodeError(result.error)
        }),
        { numRuns: countRuns(fuzzRuns()) },
      )
    },
    fuzzTimeoutMs(),
  )

  it(
    'a message longer than maxFrameBytes is ERR_FRAME_TOO_LARGE before it is parsed',
    () => {
      fc.assert(
        fc.property(anyText, fc.integer({ min: 0, max: 64 }), (text, max) => {
          fc.pre(text.length > max)
          const result = decodeFrames(text, { ...DEFAULT_FRAME_LIMITS, maxFrameBytes: max })
          expect(result.ok).toBe(false)
          if (!result.ok) expect(result.error.code).toBe('ERR_FRAME_TOO_LARGE')
        }),
        { numRuns: countRuns(fuzzRuns()) },
      )
    },
    fuzzTimeoutMs(),
  )

  it('decoding never touches Object.prototype, whatever keys the details hold', () => {
    const hostile = fc
      .tuple(fc.jsonValue({ maxDepth: 2 }), fc.constantFrom('__proto__', 'constructor', 'prototype'))
      .map(([value, key]) => `[1,"t","o",{"${key}":{"polluted":${JSON.stringify(value) ?? 'null'}}}]`)
    fc.assert(
      fc.property(hostile, (text) => {
        const result = decodeFrames(text)
        expect(result.ok).toBe(true)
        expect(({} as Record<string, unknown>).polluted).toBeUndefined()
      }),
      { numRuns: countRuns(fuzzRuns(0.25)) },
    )
  })
})

describe('validateFrames (structured-clone frames)', () => {
  const clone = createCloneCodec()
  const anyValue = fc.oneof(
    messageLike,
    fc.anything({ withMap: true, withSet: true, withDate: true, withTypedArray: true, withBigInt: true }),
    fc.array(fc.anything({ withBigInt: true, withDate: true }), { maxLength: 5 }).map((rest) => [1, ...rest]),
  )

  it(
    'any structured value yields well-formed frames or a typed error, never a throw',
    () => {
      fc.assert(
        fc.property(anyValue, limits, (value, frameLimits) => {
          const result = validateFrames(value, frameLimits)
          if (result.ok) expectWellFormed(result.frames, frameLimits)
          else expectDecodeError(result.error)
          const viaCodec = clone.decode(value)
          expect(viaCodec.ok).toBe(validateFrames(value, DEFAULT_FRAME_LIMITS).ok)
        }),
        { numRuns: countRuns(fuzzRuns()) },
      )
    },
    fuzzTimeoutMs(),
  )
})

// --- round trips ---

const type = fc.string({ minLength: 1, maxLength: 40, unit: 'binary' })
const id = fc.string({ minLength: 1, maxLength: 128 })
const knownCode = fc.constantFrom<EventwireErrorCode>(
  'ERR_FRAME_MALFORMED',
  'ERR_UNAUTHORIZED',
  'ERR_LIMIT',
  'ERR_TIMEOUT',
  'ERR_OVERFLOW',
)

/** A valid frame, as the decoder returns it (details are JSON values that survive JSON unchanged). */
const validFrame: fc.Arbitrary<Frame> = fc.oneof(
  fc
    .record({
      type,
      origin: id,
      detail: fc.jsonValue({ maxDepth: 3 }),
      hops: fc.integer({ min: 0, max: 255 }),
    })
    .map(({ detail, ...rest }) => ({ kind: 'event' as const, ...rest, detail: normalize(detail) })),
  type.map((t) => ({ kind: 'sub' as const, type: t })),
  type.map((t) => ({ kind: 'unsub' as const, type: t })),
  fc.nat().map((n) => ({ kind: 'ping' as const, id: n })),
  fc.nat().map((n) => ({ kind: 'pong' as const, id: n })),
  fc
    .record({ nodeId: id, role: fc.constantFrom('hub' as const, 'spoke' as const, 'peer' as const) })
    .map(({ nodeId, role }) => ({ kind: 'hello' as const, version: 1, nodeId, role })),
  fc
    .record({
      code: knownCode,
      message: fc.string({ maxLength: 1024 }),
      eventType: fc.option(type, { nil: undefined }),
    })
    .map((fields) => ({ kind: 'error' as const, ...fields })),
  fc
    .record({ code: fc.integer({ min: 1000, max: 4999 }), reason: fc.string({ maxLength: 123 }) })
    .map((fields) => ({ kind: 'bye' as const, ...fields })),
  fc
    .record({
      type,
      epoch: fc.string({ minLength: 1, maxLength: 64 }),
      offset: fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }),
    })
    .map((fields) => ({ kind: 'position' as const, ...fields })),
  type.map((t) => ({ kind: 'position' as const, type: t, epoch: undefined, offset: 0 })),
  fc
    .record({
      type,
      epoch: fc.string({ minLength: 1, maxLength: 64 }),
      offset: fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
    })
    .map((fields) => ({ kind: 'resume' as const, ...fields })),
  fc
    .record({
      type,
      outcome: fc.constantFrom('recovered' as const, 'epoch' as const, 'too-old' as const, 'ahead' as const),
      count: fc.nat(),
    })
    .map((fields) => ({ kind: 'resumed' as const, ...fields })),
)

/** The value JSON gives back (drops -0 and the like), which is what a JSON link delivers. */
function normalize(value: unknown): unknown {
  return JSON.parse(JSON.stringify(value) ?? 'null')
}

function encodeWith<W>(
  codec: ReturnType<typeof createTextCodec> | ReturnType<typeof createCloneCodec>,
  frame: Frame,
): W {
  const c = codec as unknown as {
    event(t: string, o: string, d: unknown, h: number): W
    hello(n: string, r: string): W
    sub(t: string): W
    unsub(t: string): W
    ping(n: number): W
    pong(n: number): W
    error(code: string, message: string, eventType?: string): W
    bye(code: number, reason: string): W
    position(t: string, epoch?: string, offset?: number): W
    resume(t: string, epoch: string, offset: number): W
    resumed(t: string, outcome: string, count: number): W
  }
  switch (frame.kind) {
    case 'event':
      return c.event(frame.type, frame.origin, frame.detail, frame.hops)
    case 'hello':
      return c.hello(frame.nodeId, frame.role!)
    case 'sub':
      return c.sub(frame.type)
    case 'unsub':
      return c.unsub(frame.type)
    case 'ping':
      return c.ping(frame.id)
    case 'pong':
      return c.pong(frame.id)
    case 'error':
      return c.error(frame.code, frame.message, frame.eventType)
    case 'bye':
      return c.bye(frame.code, frame.reason)
    case 'position':
      return c.position(frame.type, frame.epoch, frame.offset)
    case 'resume':
      return c.resume(frame.type, frame.epoch, frame.offset)
    case 'resumed':
      return c.resumed(frame.type, frame.outcome, frame.count)
  }
}

describe('valid frames round-trip', () => {
  const serializers: Array<[string, Serializer | undefined]> = [
    ['JSON', undefined],
    [
      'a custom serializer',
      { stringify: (v) => JSON.stringify(v) ?? 'null', parse: (t) => JSON.parse(t) as unknown },
    ],
  ]
  for (const [name, serializer] of serializers) {
    it(
      `text codec with ${name}: encode then decode is the identity, alone and in batches`,
      () => {
        const codec = createTextCodec(serializer)
        fc.assert(
          fc.property(fc.array(validFrame, { minLength: 1, maxLength: 8 }), (frames) => {
            const encoded = frames.map((frame) => encodeWith<string>(codec, frame))
            const message = encoded.length === 1 ? encoded[0]! : encodeBatch(encoded)
            const result = codec.decode(message)
            expect(result.ok).toBe(true)
            if (result.ok) expect(result.frames).toEqual(frames)
          }),
          { numRuns: countRuns(fuzzRuns()) },
        )
      },
      fuzzTimeoutMs(),
    )
  }

  it(
    'clone codec: encode then validate is the identity, alone and in batches',
    () => {
      const codec = createCloneCodec()
      fc.assert(
        fc.property(fc.array(validFrame, { minLength: 1, maxLength: 8 }), (frames) => {
          const encoded = frames.map((frame) => encodeWith<readonly unknown[]>(codec, frame))
          const message = encoded.length === 1 ? encoded[0]! : codec.batch(encoded)
          const result = codec.decode(structuredClone(message))
          expect(result.ok).toBe(true)
          if (result.ok) expect(result.frames).toEqual(frames)
        }),
        { numRuns: countRuns(fuzzRuns()) },
      )
    },
    fuzzTimeoutMs(),
  )

  it(
    'clone codec with runs: events of one type and origin in a row share a run, and validate gives back every frame in order',
    () => {
      const codec = createCloneCodec()
      // A small pool of types and origins, so that runs actually form between the other frames.
      const repeating = fc
        .record({
          type: fc.constantFrom('a', 'b'),
          origin: fc.constantFrom('x', 'y'),
          detail: fc.jsonValue({ maxDepth: 2 }),
          hops: fc.constantFrom(0, 0, 1),
        })
        .map(({ detail, ...rest }) => ({ kind: 'event' as const, ...rest, detail: normalize(detail) }))
      const frame: fc.Arbitrary<Frame> = fc.oneof(validFrame, repeating, repeating, repeating)
      fc.assert(
        fc.property(fc.array(frame, { minLength: 2, maxLength: 24 }), (frames) => {
          const encoded = frames.map((item) => encodeWith<readonly unknown[]>(codec, item))
          const message = codec.batch(encoded, { runs: true })
          const result = codec.decode(structuredClone(message))
          expect(result.ok).toBe(true)
          if (result.ok) expect(result.frames).toEqual(frames)
        }),
        { numRuns: countRuns(fuzzRuns()) },
      )
    },
    fuzzTimeoutMs(),
  )
})
