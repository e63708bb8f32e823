import fc from 'fast-check'
import { afterAll, describe, expect, it } from 'vitest'
import { decodeFrames, encodeBatch } from '../../src/core/frame.js'
import {
  COMPRESSED_FLAG,
  encodeLengthPrefixed,
  LENGTH_PREFIX_BYTES,
  LengthPrefixedDecoder,
} from '../../src/core/length-prefixed.js'
import {
  countRuns,
  executedRuns,
  expectDecodeError,
  fuzzRuns,
  fuzzTimeoutMs,
  validTextFrame,
} from './support.js'

afterAll(() => {
  console.log(`fuzz length-prefixed: ${executedRuns()} runs`)
})

const utf8 = new TextEncoder()
const text = new TextDecoder()

/** Cuts `bytes` at the given offsets (taken modulo its length), keeping order; empty chunks included. */
function split(bytes: Uint8Array, cuts: number[]): Uint8Array[] {
  const points = [...new Set(cuts.map((cut) => (bytes.length === 0 ? 0 : cut % (bytes.length + 1))))].sort(
    (a, b) => a - b,
  )
  const chunks: Uint8Array[] = []
  let from = 0
  for (const point of points) {
    chunks.push(bytes.slice(from, point))
    from = point
  }
  chunks.push(bytes.slice(from))
  return chunks
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((sum, part) => sum + part.length, 0))
  let offset = 0
  for (const part of parts) {
    out.set(part, offset)
    offset += part.length
  }
  return out
}

const header = fc
  .tuple(fc.boolean(), fc.oneof(fc.nat(64), fc.integer({ min: 0, max: 0x7fff_ffff })))
  .map(([compressed, length]) => {
    const value = (compressed ? COMPRESSED_FLAG : 0) + length
    return Uint8Array.of(value >>> 24, (value >>> 16) & 0xff, (value >>> 8) & 0xff, value & 0xff)
  })

/** A byte stream made of random headers (the compressed bit included) and random bytes. */
const hostileStream = fc
  .array(fc.oneof(header, fc.uint8Array({ maxLength: 48 })), { minLength: 1, maxLength: 8 })
  .map(concat)

describe('LengthPrefixedDecoder', () => {
  it(
    'any bytes in any chunking: payloads within maxFrameBytes or a typed error, never a throw, never more held than received',
    () => {
      fc.assert(
        fc.property(
          hostileStream,
          fc.array(fc.nat(), { maxLength: 10 }),
          fc.integer({ min: 0, max: 64 }),
          (bytes, cuts, max) => {
            const decoder = new LengthPrefixedDecoder(max)
            let pushed = 0
            let failed = false
            for (const chunk of split(bytes, cuts)) {
              pushed += chunk.length
              const error = decoder.push(chunk, (payload) => {
                expect(failed).toBe(false)
                expect(payload.length).toBeLessThanOrEqual(max)
              })
              if (error !== undefined) {
                expectDecodeError(error)
                failed = true
              }
              // A claimed length is never allocated up front: only bytes that arrived are held.
              expect(decoder.bufferedBytes).toBeLessThanOrEqual(Math.min(pushed, max + LENGTH_PREFIX_BYTES))
            }
            const end = decoder.end()
            if (end !== undefined) expectDecodeError(end)
          },
        ),
        { numRuns: countRuns(fuzzRuns()) },
      )
    },
    fuzzTimeoutMs(),
  )

  it(
    'a header claiming more than maxFrameBytes is refused as soon as it is read, compressed bit or not',
    () => {
      fc.assert(
        fc.property(
          fc.boolean(),
          fc.integer({ min: 1, max: 0x7fff_ffff }),
          fc.integer({ min: 0, max: 1 << 20 }),
          fc.nat(3),
          (compressed, length, max, firstChunk) => {
            fc.pre(length > max)
            const bytes = encodeHeader(length, compressed)
            const decoder = new LengthPrefixedDecoder(max)
            const frames: Uint8Array[] = []
            const first = decoder.push(bytes.slice(0, firstChunk), (payload) => frames.push(payload))
            expect(first).toBeUndefined()
            const error = decoder.push(bytes.slice(firstChunk), (payload) => frames.push(payload))
            expect(error?.code).toBe('ERR_FRAME_TOO_LARGE')
            expect(frames).toEqual([])
            // Refused for good: later bytes are not read.
            expect(decoder.push(Uint8Array.of(0, 0, 0, 0), (payload) => frames.push(payload))).toBe(error)
          },
        ),
        { numRuns: countRuns(fuzzRuns()) },
      )
    },
    fuzzTimeoutMs(),
  )

  it(
    'batches split at any byte boundary reassemble into the same messages and frames',
    () => {
      const message = fc
        .array(validTextFrame, { minLength: 1, maxLength: 5 })
        .map((frames) => (frames.length === 1 ? frames[0]! : encodeBatch(frames)))
      fc.assert(
        fc.property(
          fc.array(fc.tuple(message, fc.boolean()), { minLength: 1, maxLength: 6 }),
          fc.array(fc.nat(), { maxLength: 20 }),
          (messages, cuts) => {
            const stream = concat(
              messages.map(([m, compressed]) => encodeLengthPrefixed(utf8.encode(m), compressed)),
            )
            const decoder = new LengthPrefixedDecoder(4 * 1024 * 1024)
            const received: Array<[string, boolean]> = []
            for (const chunk of split(stream, cuts)) {
              expect(
                decoder.push(chunk, (payload, compressed) =>
                  received.push([text.decode(payload), compressed]),
                ),
              ).toBeUndefined()
            }
            expect(decoder.end()).toBeUndefined()
            expect(decoder.bufferedBytes).toBe(0)
            expect(received).toEqual(messages)
            for (const [m] of received) expect(decodeFrames(m).ok).toBe(true)
          },
        ),
        { numRuns: countRuns(fuzzRuns()) },
      )
    },
    fuzzTimeoutMs(),
  )

  it(
    'a stream cut short inside a frame ends with ERR_FRAME_MALFORMED',
    () => {
      fc.assert(
        fc.property(fc.uint8Array({ minLength: 1, maxLength: 64 }), fc.nat(), (payload, cut) => {
          const frame = encodeLengthPrefixed(payload)
          const at = 1 + (cut % (frame.length - 1))
          const decoder = new LengthPrefixedDecoder(1024)
          expect(decoder.push(frame.slice(0, at), () => expect.unreachable())).toBeUndefined()
          expect(decoder.end()?.code).toBe('ERR_FRAME_MALFORMED')
        }),
        { numRuns: countRuns(fuzzRuns()) },
      )
    },
    fuzzTimeoutMs(),
  )
})

function encodeHeader(length: number, compressed: boolean): Uint8Array {
  const value = (compressed ? COMPRESSED_FLAG : 0) + length
  return Uint8Array.of(value >>> 24, (value >>> 16) & 0xff, (value >>> 8) & 0xff, value & 0xff)
}
