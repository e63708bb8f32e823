import fc from 'fast-check'
import { expect } from 'vitest'
import { EventwireError, isEventwireErrorCode } from '../../src/core/errors.js'
import {
  encodeError,
  encodeEvent,
  encodeHello,
  encodePing,
  encodePong,
  encodeSub,
} from '../../src/core/frame.js'
import { jsonSerializer } from '../../src/core/serializer.js'

/**
 * Runs per property: `FUZZ_RUNS` (set by `npm run fuzz`), else a budget that keeps every fuzz file quick
 * in `npm test`. `weight` scales it for properties whose runs are expensive (a network round trip).
 */
export function fuzzRuns(weight = 1): number {
  const base = Number(process.env.FUZZ_RUNS ?? 1000)
  return Math.max(10, Math.floor(base * weight))
}

/** A timeout that grows with the budget: `npm run fuzz` runs 500 times as many cases. */
export function fuzzTimeoutMs(weight = 1): number {
  return Math.max(30_000, fuzzRuns(weight) * 2)
}

let executed = 0

/** Counts the cases a property ran, so each file can print its total. */
export function countRuns(runs: number): number {
  executed += runs
  return runs
}

export function executedRuns(): number {
  return executed
}

/** Codes a decoder may answer with: anything else is a bug. */
export const DECODE_CODES = new Set(['ERR_FRAME_MALFORMED', 'ERR_FRAME_TOO_LARGE', 'ERR_SERIALIZE'])

export function expectDecodeError(error: unknown, codes: ReadonlySet<string> = DECODE_CODES): void {
  expect(error).toBeInstanceOf(EventwireError)
  const { code } = error as EventwireError
  expect(isEventwireErrorCode(code)).toBe(true)
  expect(codes.has(code), `unexpected code ${code}`).toBe(true)
}

/** Event types, biased toward the names a forger would pick and toward the length limit. */
export const eventType = fc.oneof(
  fc.constantFrom('sub', 'unsub', 'ping', 'pong', 'hello', 'error', 'batch', '__proto__', 'constructor', 'x'),
  fc.string({ minLength: 1, maxLength: 20, unit: 'binary' }),
  fc.string({ minLength: 250, maxLength: 260 }),
)

export const nodeId = fc.oneof(
  fc.string({ minLength: 1, maxLength: 16 }),
  fc.string({ minLength: 120, maxLength: 130 }),
  fc.constant(''),
)

/** Any value a frame element might hold, from JSON and beyond it. */
export const element: fc.Arbitrary<unknown> = fc.oneof(
  fc.integer({ min: -2, max: 9 }),
  fc.double(),
  eventType,
  nodeId,
  fc.constantFrom(null, true, false, 'ERR_LIMIT', 'ERR_NOPE', 'hub', 'spoke', 'peer', -0, 2 ** 53),
  fc.jsonValue({ maxDepth: 2 }),
)

/** Arrays shaped like frames: a plausible kind, then a few arbitrary elements. */
export const frameLike: fc.Arbitrary<unknown[]> = fc
  .tuple(fc.integer({ min: -1, max: 8 }), fc.array(element, { maxLength: 5 }))
  .map(([kind, rest]) => [kind, ...rest])

/** Frame-like arrays and batches of them (sometimes nested), as parsed JSON. */
export const messageLike: fc.Arbitrary<unknown> = fc.oneof(
  frameLike,
  fc.array(frameLike, { maxLength: 6 }).map((frames) => [4, ...frames]),
  fc
    .array(fc.oneof(frameLike, fc.constant([4, [6, 1]]), element), { maxLength: 4 })
    .map((items) => [4, ...items]),
  fc.jsonValue({ maxDepth: 3 }),
)

/** Valid encoded text frames (never batches). */
export const validTextFrame: fc.Arbitrary<string> = fc.oneof(
  fc
    .tuple(eventType, fc.string({ minLength: 1, maxLength: 20 }), fc.jsonValue({ maxDepth: 3 }), fc.nat(255))
    .filter(([type]) => type.length <= 256)
    .map(([type, origin, detail, hops]) => encodeEvent(type, origin, detail, jsonSerializer, hops)),
  eventType.filter((type) => type.length <= 256).map(encodeSub),
  fc.nat().map(encodePing),
  fc.nat().map(encodePong),
  fc.string({ minLength: 1, maxLength: 20 }).map((id) => encodeHello(id, 'spoke')),
  fc.string({ maxLength: 40 }).map((message) => encodeError('ERR_LIMIT', message)),
)

/** Text that is close to a valid message: a valid frame or batch with a few characters changed. */
export const mutatedText: fc.Arbitrary<string> = fc
  .tuple(
    fc.array(validTextFrame, { minLength: 1, maxLength: 4 }),
    fc.array(fc.tuple(fc.nat(), fc.nat(2), fc.string({ maxLength: 2, unit: 'binary' })), { maxLength: 3 }),
  )
  .map(([frames, edits]) => {
    let text = frames.length === 1 ? frames[0]! : `[4,${frames.join(',')}]`
    for (const [at, op, insert] of edits) {
      const i = at % (text.length + 1)
      if (op === 0) text = text.slice(0, i) + text.slice(i + 1)
      else if (op === 1) text = text.slice(0, i) + insert + text.slice(i)
      else text = text.slice(0, i) + insert + text.slice(i + insert.length)
    }
    return text
  })

/** Any text a peer might send: noise, JSON that is not a frame, near-miss frames. */
export const anyText: fc.Arbitrary<string> = fc.oneof(
  fc.string({ maxLength: 64, unit: 'binary' }),
  messageLike.map((value) => JSON.stringify(value) ?? 'null'),
  mutatedText,
)
