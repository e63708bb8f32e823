import { deflateRawSync, inflateRawSync } from 'node:zlib'
import { describe, expect, it } from 'vitest'
import { EventwireError } from '../../../src/core/errors.js'
import {
  type ByteStream,
  COMPRESSED_FLAG,
  createLengthPrefixedLink,
  encodeLengthPrefixed,
  LENGTH_PREFIX_BYTES,
  LengthPrefixedDecoder,
  type LengthPrefixedLinkOptions,
} from '../../../src/core/length-prefixed.js'
import type { LinkCloseInfo } from '../../../src/core/link.js'
import { waitFor } from '../../../src/testing/index.js'

const text = new TextEncoder()
const fromText = new TextDecoder()

/** Deterministic PRNG (mulberry32), so a failing fuzz case can be replayed. */
function random(seed: number): () => number {
  let state = seed
  return () => {
    state = (state + 0x6d2b79f5) | 0
    let t = Math.imul(state ^ (state >>> 15), 1 | state)
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

function concat(chunks: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(chunks.reduce((sum, chunk) => sum + chunk.length, 0))
  let offset = 0
  for (const chunk of chunks) {
    out.set(chunk, offset)
    offset += chunk.length
  }
  return out
}

interface Decoded {
  payload: string
  isCompressed: boolean
}

/** Feeds `chunks` to a fresh decoder; returns the payloads (copied) and the first error. */
function decode(chunks: readonly Uint8Array[], maxFrameBytes = 1024 * 1024) {
  const decoder = new LengthPrefixedDecoder(maxFrameBytes)
  const frames: Decoded[] = []
  let error: EventwireError | undefined
  for (const chunk of chunks) {
    error = decoder.push(chunk, (payload, isCompressed) =>
      frames.push({ payload: fromText.decode(payload), isCompressed }),
    )
    if (error !== undefined) break
  }
  return { frames, error, end: error ?? decoder.end(), decoder }
}

const samples = ['[0,1,"a","spoke"]', '', 'x', '[1,"tick","n",{"text":"héllo ✓ 🎉"}]', 'y'.repeat(300)]
const stream = concat(samples.map((sample) => encodeLengthPrefixed(text.encode(sample))))
const expected = samples.map((payload) => ({ payload, isCompressed: false }))

describe('length-prefixed frames', () => {
  it('writes a 4-byte big-endian length, with bit 31 for a compressed payload', () => {
    expect([...encodeLengthPrefixed(new Uint8Array(300))].slice(0, 4)).toEqual([0, 0, 1, 44])
    expect([...encodeLengthPrefixed(new Uint8Array([7]), true)]).toEqual([0x80, 0, 0, 1, 7])
    expect(COMPRESSED_FLAG).toBe(2 ** 31)
  })

  it('decodes several frames from one chunk, and the empty payload', () => {
    const result = decode([stream])
    expect(result.frames).toEqual(expected)
    expect(result.end).toBeUndefined()
  })

  it('decodes the same frames whatever byte the stream is split at', () => {
    for (let at = 0; at <= stream.length; at++) {
      const result = decode([stream.subarray(0, at), stream.subarray(at)])
      expect(result.frames, `split at ${at}`).toEqual(expected)
      expect(result.end, `split at ${at}`).toBeUndefined()
    }
  })

  it('decodes a stream fed one byte at a time', () => {
    const chunks = Array.from(stream, (byte) => new Uint8Array([byte]))
    expect(decode(chunks).frames).toEqual(expected)
  })

  it('decodes random frames under random chunking (fuzz, 300 seeded runs)', () => {
    for (let seed = 1; seed <= 300; seed++) {
      const next = random(seed)
      const frames: Decoded[] = Array.from({ length: 1 + Math.floor(next() * 20) }, () => ({
        payload: 'abcdefghij'.repeat(Math.floor(next() * 200)).slice(0, Math.floor(next() * 2000)),
        isCompressed: next() < 0.3,
      }))
      const bytes = concat(frames.map((f) => encodeLengthPrefixed(text.encode(f.payload), f.isCompressed)))
      const chunks: Uint8Array[] = []
      for (let offset = 0; offset < bytes.length; ) {
        const size = next() < 0.2 ? 1 + Math.floor(next() * 3) : 1 + Math.floor(next() * 3000)
        chunks.push(bytes.slice(offset, offset + size))
        offset += size
      }
      const result = decode(chunks)
      expect(result.frames, `seed ${seed}`).toEqual(frames)
      expect(result.end, `seed ${seed}`).toBeUndefined()
    }
  })

  it('accepts a payload of exactly maxFrameBytes', () => {
    const result = decode([encodeLengthPrefixed(new Uint8Array(64))], 64)
    expect(result.frames).toHaveLength(1)
    expect(result.error).toBeUndefined()
  })

  it('refuses a length above maxFrameBytes as soon as the header is read, and everything after', () => {
    const decoder = new LengthPrefixedDecoder(1024)
    const seen: Uint8Array[] = []
    const header = new Uint8Array([0x7f, 0xff, 0xff, 0xff])
    expect(decoder.push(header.subarray(0, 3), (payload) => seen.push(payload))).toBeUndefined()
    const error = decoder.push(header.subarray(3), (payload) => seen.push(payload))
    expect(error).toBeInstanceOf(EventwireError)
    expect(error?.code).toBe('ERR_FRAME_TOO_LARGE')
    expect(error?.message).toBe('frame of 2147483647 bytes exceeds maxFrameBytes (1024)')
    expect(decoder.bufferedBytes).toBe(0)
    expect(decoder.push(encodeLengthPrefixed(text.encode('ok')), (payload) => seen.push(payload))).toBe(error)
    expect(seen).toEqual([])
  })

  it('refuses an oversized compressed frame the same way', () => {
    const header = new Uint8Array([0x80, 0x10, 0x00, 0x00])
    expect(decode([header], 1024).error?.code).toBe('ERR_FRAME_TOO_LARGE')
  })

  it('holds only the bytes that arrived for a large frame, never its claimed size', () => {
    const maxFrameBytes = 64 * 1024 * 1024
    const decoder = new LengthPrefixedDecoder(maxFrameBytes)
    const before = process.memoryUsage().arrayBuffers
    const claim = new Uint8Array([0x04, 0x00, 0x00, 0x00, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10]) // 64 MiB claimed
    expect(decoder.push(claim, () => {})).toBeUndefined()
    expect(decoder.bufferedBytes).toBe(10)
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(1024 * 1024)
  })

  it('reports a stream that ends inside a header or a payload as malformed', () => {
    const whole = encodeLengthPrefixed(text.encode('hello'))
    const inHeader = decode([whole, whole.subarray(0, 2)])
    expect(inHeader.frames.map((f) => f.payload)).toEqual(['hello'])
    expect(inHeader.end?.code).toBe('ERR_FRAME_MALFORMED')
    expect(inHeader.end?.message).toBe('the stream ended inside a frame (2 of 4 header bytes)')
    const inPayload = decode([whole.subarray(0, LENGTH_PREFIX_BYTES + 3)])
    expect(inPayload.frames).toEqual([])
    expect(inPayload.end?.message).toBe('the stream ended inside a frame (3 of 5 payload bytes)')
    expect(decode([whole, whole]).end).toBeUndefined()
  })
})

/** A byte stream played by the test: writes resolve when the test says so, reads are fed by hand. */
function scriptedStream(options: { autoResolve?: boolean } = {}) {
  const writes: Uint8Array[] = []
  const pendingWrites: Array<{ resolve: () => void; reject: (error: Error) => void }> = []
  const chunks: Array<Uint8Array | null | Error> = []
  let wakeReader: (() => void) | undefined
  const calls: string[] = []
  const stream: ByteStream = {
    write: (bytes) => {
      writes.push(bytes.slice())
      calls.push('write')
      if (options.autoResolve !== false) return Promise.resolve()
      return new Promise((resolve, reject) => pendingWrites.push({ resolve, reject }))
    },
    read: async () => {
      while (chunks.length === 0) await new Promise<void>((resolve) => (wakeReader = resolve))
      const next = chunks.shift()!
      if (next instanceof Error) throw next
      return next
    },
    finish: async () => {
      calls.push('finish')
    },
    close: (code, reason) => {
      calls.push(`close ${code} ${reason}`)
    },
    closeInfo: (error) => ({ error: error as Error }),
  }
  return {
    stream,
    writes,
    calls,
    pendingWrites,
    feed(chunk: Uint8Array | null | Error) {
      chunks.push(chunk)
      wakeReader?.()
    },
    /** Every frame written so far, decoded to text (inflating compressed ones). */
    written(): string[] {
      const out: string[] = []
      new LengthPrefixedDecoder(1 << 30).push(concat(writes), (payload, isCompressed) =>
        out.push(fromText.decode(isCompressed ? inflateRawSync(payload) : payload)),
      )
      return out
    },
  }
}

function receiver() {
  const received: unknown[] = []
  const closes: LinkCloseInfo[] = []
  let drains = 0
  return {
    received,
    closes,
    drains: () => drains,
    handlers: {
      receive: (data: unknown) => received.push(data),
      closed: (info: LinkCloseInfo = {}) => closes.push(info),
      drained: () => {
        drains++
      },
    },
  }
}

const zlib: Pick<LengthPrefixedLinkOptions, 'compress' | 'decompress'> = {
  compress: (payload) => deflateRawSync(payload, { level: 1 }),
  decompress: (payload, maxBytes) => {
    try {
      return inflateRawSync(payload, { maxOutputLength: maxBytes })
    } catch (cause) {
      if ((cause as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE') {
        throw new EventwireError('ERR_FRAME_TOO_LARGE', 'inflates past maxFrameBytes', { cause })
      }
      throw cause
    }
  },
}

describe('createLengthPrefixedLink', () => {
  it('writes one frame per send, and coalesces what queued behind a pending write into one write', async () => {
    const script = scriptedStream({ autoResolve: false })
    const link = createLengthPrefixedLink(script.stream, { maxFrameBytes: 1024 })
    const sink = receiver()
    link.start(sink.handlers)
    link.send('[6,1]')
    expect(script.writes).toHaveLength(1)
    expect(link.bufferedBytes?.()).toBe(9)
    link.send('[6,2]')
    link.send('[6,3]')
    expect(script.writes).toHaveLength(1)
    expect(link.bufferedBytes?.()).toBe(27)
    script.pendingWrites.shift()!.resolve()
    await waitFor(() => script.writes.length === 2)
    expect(link.bufferedBytes?.()).toBe(18)
    script.pendingWrites.shift()!.resolve()
    await waitFor(() => sink.drains() === 1)
    expect(link.bufferedBytes?.()).toBe(0)
    expect(script.written()).toEqual(['[6,1]', '[6,2]', '[6,3]'])
  })

  it('compresses payloads from compressMinBytes on, only when that makes them smaller', async () => {
    const script = scriptedStream()
    const link = createLengthPrefixedLink(script.stream, { maxFrameBytes: 1 << 20, ...zlib })
    const long = `[4,${Array.from({ length: 50 }, (_, i) => `[1,"tick","n",${i}]`).join(',')}]`
    link.send('[6,1]')
    link.send(long)
    await waitFor(() => script.written().length === 2)
    const sizes: Array<[number, boolean]> = []
    new LengthPrefixedDecoder(1 << 20).push(concat(script.writes), (payload, isCompressed) =>
      sizes.push([payload.length, isCompressed]),
    )
    expect(sizes.map(([, isCompressed]) => isCompressed)).toEqual([false, true])
    expect(sizes[1]![0]).toBeLessThan(long.length / 4)
    expect(script.written()).toEqual(['[6,1]', long])

    const tried: number[] = []
    const stubborn = scriptedStream()
    const growing = createLengthPrefixedLink(stubborn.stream, {
      maxFrameBytes: 1 << 20,
      compressMinBytes: 4,
      compress: (payload) => {
        tried.push(payload.length)
        return new Uint8Array(payload.length + 1)
      },
    })
    growing.send('[6,1]')
    expect(tried).toEqual([5])
    expect([...stubborn.writes[0]!]).toEqual([0, 0, 0, 5, ...text.encode('[6,1]')])
  })

  it('hands received frames over as text, inflating compressed ones', async () => {
    const script = scriptedStream()
    const link = createLengthPrefixedLink(script.stream, { maxFrameBytes: 1 << 20, ...zlib })
    const sink = receiver()
    link.start(sink.handlers)
    const long = 'z'.repeat(5000)
    const bytes = concat([
      encodeLengthPrefixed(text.encode('[6,1]')),
      encodeLengthPrefixed(deflateRawSync(text.encode(long)), true),
      encodeLengthPrefixed(new Uint8Array([0xff, 0xfe])),
    ])
    script.feed(bytes.subarray(0, 7))
    script.feed(bytes.subarray(7))
    await waitFor(() => sink.received.length === 3)
    // Invalid UTF-8 arrives as undefined: the hub or spoke refuses it as a malformed frame.
    expect(sink.received).toEqual(['[6,1]', long, undefined])
    expect(sink.closes).toEqual([])
  })

  it('closes with 1009 on a length above maxFrameBytes: reports it, tells the peer, closes once', async () => {
    const script = scriptedStream()
    const invalid: EventwireError[] = []
    const link = createLengthPrefixedLink(script.stream, {
      maxFrameBytes: 1024,
      onInvalid: (error) => invalid.push(error),
    })
    const sink = receiver()
    link.start(sink.handlers)
    script.feed(new Uint8Array([0x00, 0x10, 0x00, 0x00, 1, 2, 3]))
    await link.closed
    expect(invalid.map((error) => error.code)).toEqual(['ERR_FRAME_TOO_LARGE'])
    expect(sink.closes).toEqual([{ code: 1009, reason: 'ERR_FRAME_TOO_LARGE', error: invalid[0] }])
    expect(JSON.parse(script.written()[0]!)).toEqual([
      5,
      'ERR_FRAME_TOO_LARGE',
      'frame of 1048576 bytes exceeds maxFrameBytes (1024)',
      null,
    ])
    expect(script.calls).toEqual(['write', 'finish', 'close 1009 ERR_FRAME_TOO_LARGE'])
  })

  it('closes with 1002 when the stream ends inside a frame, after delivering the frames before it', async () => {
    const script = scriptedStream()
    const invalid: EventwireError[] = []
    const link = createLengthPrefixedLink(script.stream, {
      maxFrameBytes: 1024,
      onInvalid: (error) => invalid.push(error),
    })
    const sink = receiver()
    link.start(sink.handlers)
    const frame = encodeLengthPrefixed(text.encode('[6,1]'))
    script.feed(concat([frame, frame.subarray(0, 6)]))
    script.feed(null)
    await link.closed
    expect(sink.received).toEqual(['[6,1]'])
    expect(invalid.map((error) => error.message)).toEqual([
      'the stream ended inside a frame (2 of 5 payload bytes)',
    ])
    expect(sink.closes.map((info) => info.code)).toEqual([1002])
  })

  it('refuses a compressed frame that inflates past maxFrameBytes (a deflate bomb)', async () => {
    const script = scriptedStream()
    const invalid: EventwireError[] = []
    const link = createLengthPrefixedLink(script.stream, {
      maxFrameBytes: 8192,
      ...zlib,
      onInvalid: (error) => invalid.push(error),
    })
    const sink = receiver()
    link.start(sink.handlers)
    const bomb = deflateRawSync(new Uint8Array(4 * 1024 * 1024))
    expect(bomb.length).toBeLessThan(8192)
    script.feed(encodeLengthPrefixed(bomb, true))
    await link.closed
    expect(invalid.map((error) => error.code)).toEqual(['ERR_FRAME_TOO_LARGE'])
    expect(sink.received).toEqual([])
    expect(sink.closes.map((info) => info.code)).toEqual([1009])
  })

  it('refuses a compressed frame that does not inflate as malformed', async () => {
    const script = scriptedStream()
    const invalid: EventwireError[] = []
    const link = createLengthPrefixedLink(script.stream, {
      maxFrameBytes: 4096,
      ...zlib,
      onInvalid: (error) => invalid.push(error),
    })
    link.start(receiver().handlers)
    script.feed(encodeLengthPrefixed(new Uint8Array([0xff, 0xff, 0xff]), true))
    await link.closed
    expect(invalid.map((error) => [error.code, error.message])).toEqual([
      ['ERR_FRAME_MALFORMED', 'a compressed frame does not inflate'],
    ])
  })

  it('throws ERR_FRAME_TOO_LARGE for a message above maxFrameBytes, so the writer reports that event alone', () => {
    const script = scriptedStream()
    const link = createLengthPrefixedLink(script.stream, { maxFrameBytes: 16 })
    expect(() => link.send('x'.repeat(17))).toThrow(
      expect.objectContaining({ code: 'ERR_FRAME_TOO_LARGE' }) as unknown as Error,
    )
    link.send('x'.repeat(16))
    expect(script.written()).toEqual(['x'.repeat(16)])
  })

  it('closes after the queued writes and the finish, and reports the close once', async () => {
    const script = scriptedStream({ autoResolve: false })
    const link = createLengthPrefixedLink(script.stream, { maxFrameBytes: 1024 })
    const sink = receiver()
    link.start(sink.handlers)
    link.send('[6,1]')
    link.send('[6,2]')
    link.close(1000, 'bye')
    link.send('[6,3]')
    expect(script.calls).toEqual(['write'])
    script.pendingWrites.shift()!.resolve()
    await waitFor(() => script.pendingWrites.length === 1)
    script.pendingWrites.shift()!.resolve()
    await link.closed
    expect(script.calls).toEqual(['write', 'write', 'finish', 'close 1000 bye'])
    expect(script.written()).toEqual(['[6,1]', '[6,2]'])
    expect(sink.closes).toEqual([{ code: 1000, reason: 'bye' }])
  })

  it('closes anyway after closeTimeoutMs when a write never completes', async () => {
    const script = scriptedStream({ autoResolve: false })
    const link = createLengthPrefixedLink(script.stream, { maxFrameBytes: 1024, closeTimeoutMs: 20 })
    link.start(receiver().handlers)
    link.send('[6,1]')
    link.close(1001, 'going away')
    await link.closed
    expect(script.calls).toEqual(['write', 'close 1001 going away'])
  })

  it('reports a lost connection (a read that rejects) as closed, with what closeInfo makes of it', async () => {
    const script = scriptedStream()
    const link = createLengthPrefixedLink(script.stream, { maxFrameBytes: 1024 })
    const sink = receiver()
    link.start(sink.handlers)
    const lost = new Error('connection lost')
    script.feed(lost)
    await link.closed
    expect(sink.closes).toEqual([{ error: lost }])
    link.send('[6,1]')
    expect(script.writes).toEqual([])
  })

  it('treats the peer finishing its side as a normal close', async () => {
    const script = scriptedStream()
    const link = createLengthPrefixedLink(script.stream, { maxFrameBytes: 1024 })
    const sink = receiver()
    link.start(sink.handlers)
    script.feed(encodeLengthPrefixed(text.encode('[6,1]')))
    script.feed(null)
    await link.closed
    expect(sink.received).toEqual(['[6,1]'])
    expect(sink.closes).toEqual([{ code: 1000, reason: 'stream finished' }])
    expect(script.calls).toEqual(['finish', 'close 1000 stream finished'])
  })
})
