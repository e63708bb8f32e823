import { describe, expect, it, vi } from 'vitest'
import { type CloneFrame, createCloneCodec, createTextCodec } from '../../../src/core/codec.js'
import {
  LinkWriter,
  type LinkWriterOptions,
  SharedChunks,
  unsendableEventError,
} from '../../../src/core/link-writer.js'

function options(overrides: Partial<LinkWriterOptions> = {}): LinkWriterOptions {
  return {
    maxBufferedBytes: 1024 * 1024,
    overflow: 'drop-oldest',
    onDrop: () => {},
    onOverflowClose: () => {},
    onSendError: () => {},
    ...overrides,
  }
}

describe('LinkWriter', () => {
  it('sends one batch per tick and a lone frame as itself', async () => {
    const codec = createTextCodec()
    const sent: string[] = []
    const writer = new LinkWriter({ send: (data) => sent.push(data), close: () => {} }, codec, options())
    writer.writeControl(codec.sub('a'))
    writer.writeEvent(codec.event('a', 'o', 1))
    expect(sent).toEqual([])
    await Promise.resolve()
    expect(sent).toEqual([codec.batch([codec.sub('a'), codec.event('a', 'o', 1)])])
    writer.writeEvent(codec.event('a', 'o', 2))
    await Promise.resolve()
    expect(sent.at(-1)).toBe(codec.event('a', 'o', 2))
  })

  it('when the link refuses a batch, sends its frames one by one and reports only the refused events', async () => {
    const codec = createCloneCodec()
    const delivered: unknown[] = []
    const refused: Array<{ cause: unknown; frame: unknown }> = []
    // structuredClone throws DataCloneError for a function, as postMessage does.
    const link = { send: (data: CloneFrame) => delivered.push(structuredClone(data)), close: () => {} }
    const writer = new LinkWriter(
      link,
      codec,
      options({ onSendError: (cause, frame) => refused.push({ cause, frame }) }),
    )
    writer.writeEvent(codec.event('t', 'o', 1))
    writer.writeEvent(codec.event('t', 'o', () => {}))
    writer.writeControl(codec.ping(7))
    writer.writeEvent(codec.event('t', 'o', 3))
    writer.flush()
    expect(delivered).toEqual([
      [1, 't', 'o', 1],
      [6, 7],
      [1, 't', 'o', 3],
    ])
    expect(refused).toHaveLength(1)
    const error = unsendableEventError(refused[0]!.cause, refused[0]!.frame)
    expect(error).toMatchObject({ code: 'ERR_SERIALIZE', eventType: 't' })
    expect((error.cause as Error).name).toBe('DataCloneError')
  })

  it('stops writing after dispose()', async () => {
    const codec = createTextCodec()
    const sent: string[] = []
    const writer = new LinkWriter({ send: (data) => sent.push(data), close: () => {} }, codec, options())
    writer.writeEvent(codec.event('a', 'o', 1))
    writer.dispose()
    await Promise.resolve()
    expect(writer.writeEvent(codec.event('a', 'o', 2))).toBe(false)
    expect(sent).toEqual([])
  })
})

describe('LinkWriter: a reader that stopped', () => {
  it('drop-oldest: a link full and blocked for a second lets its queue go, drops new events at once, and announces the count when it moves', () => {
    vi.useFakeTimers()
    try {
      const codec = createTextCodec()
      const sent: string[] = []
      let buffered = 600
      const dropped: number[] = []
      const writer = new LinkWriter(
        { send: (data) => sent.push(data), close: () => {}, bufferedBytes: () => buffered },
        codec,
        options({ maxBufferedBytes: 1_000, announceDrops: true, onDrop: (n) => dropped.push(n) }),
      )
      const total = () => dropped.reduce((sum, n) => sum + n, 0)
      let n = 0
      const write = () => writer.writeEvent(codec.event('t', 'o', n++))
      // Blocked: frames wait in the queue until it is full, then the oldest go.
      for (let i = 0; i < 100; i++) write()
      writer.flush()
      expect(sent).toEqual([])
      expect(total()).toBeGreaterThan(0)
      expect(writer.queuedBytes).toBeGreaterThan(0)
      // A second later, still blocked: the queue goes, and new events are dropped as they come.
      vi.advanceTimersByTime(1_000)
      for (let i = 0; i < 100; i++) write()
      expect(writer.queuedBytes).toBe(0)
      expect(write()).toBe(false)
      const shed = total()
      expect(shed + 0).toBe(n)
      // The reader reads again: the count of what it missed, then the live stream.
      buffered = 0
      vi.advanceTimersByTime(10)
      expect(sent.map((text) => JSON.parse(text))).toEqual([
        [5, 'ERR_OVERFLOW', `${n} events dropped: read too slowly`, null],
      ])
      expect(write()).toBe(true)
      writer.flush()
      expect(JSON.parse(sent.at(-1)!)).toEqual([1, 't', 'o', n - 1])
    } finally {
      vi.useRealTimers()
    }
  })
})

describe('LinkWriter: blocked writers sharing chunks', () => {
  it('each writer gets exactly its own frames, in order, whatever the others listen to and whenever it moves', () => {
    vi.useFakeTimers()
    try {
      const codec = createTextCodec()
      const chunks = new SharedChunks()
      const writers = ['all', 'even', 'all, then moves early'].map((name) => {
        const link = { sent: [] as string[], buffered: 10_000_000 }
        const writer = new LinkWriter(
          {
            send: (data) => link.sent.push(data),
            close: () => {},
            bufferedBytes: () => link.buffered,
          },
          codec,
          // Room for everything: nothing here is dropped.
          options({ maxBufferedBytes: 100_000_000, sharedChunks: chunks }),
        )
        // The first flush finds the link blocked; from then on, event frames go to the shared chunks.
        writer.writeControl(codec.sub(name))
        writer.flush()
        return { name, link, writer, expected: [] as number[], chars: codec.sub(name).length }
      })
      const [all, even, early] = writers as [(typeof writers)[0], (typeof writers)[0], (typeof writers)[0]]
      const received = (link: { sent: string[] }) =>
        link.sent.flatMap((text) => {
          const result = codec.decode(text)
          if (!result.ok) throw result.error
          return result.frames.flatMap((frame) => (frame.kind === 'event' ? [frame.detail as number] : []))
        })
      // As a hub writes: one frame per event, the same string to every writer that listens.
      const publish = (n: number) => {
        const frame = codec.event('t', 'o', n)
        for (const w of [all, even, early]) {
          if (w === even && n % 2 === 1) continue
          expect(w.writer.writeEvent(frame)).toBe(true)
          w.expected.push(n)
          w.chars += frame.length
        }
        // The same string written twice to one writer is two events.
        if (n === 42) {
          all.writer.writeEvent(frame)
          all.expected.push(n)
          all.chars += frame.length
        }
      }
      for (let n = 0; n < 1_500; n++) publish(n)
      // A control frame in the middle of one writer's queue keeps its place.
      all.writer.writeControl(codec.ping(1))
      all.chars += codec.ping(1).length
      for (let n = 1_500; n < 2_500; n++) publish(n)
      // One writer moves in the middle of a chunk the others still queue.
      early.link.buffered = 0
      early.writer.drained()
      expect(received(early.link)).toEqual(early.expected)
      expect(early.writer.queuedBytes).toBe(0)
      for (let n = 2_500; n < 3_500; n++) publish(n)
      for (const w of writers) {
        const bytes = w.writer.queuedBytes
        w.link.buffered = 0
        w.writer.drained()
        expect(received(w.link), w.name).toEqual(w.expected)
        expect(w.writer.queuedBytes, w.name).toBe(0)
        // The queue counts each frame's characters, and the commas between the frames of a range.
        if (w !== early) {
          expect(bytes, w.name).toBeGreaterThanOrEqual(w.chars)
          expect(bytes, w.name).toBeLessThan(w.chars + w.expected.length + 2)
        }
      }
      expect(all.link.sent.some((text) => text.includes('[6,1]'))).toBe(true)
      const allFrames = all.link.sent.flatMap((text) => {
        const result = codec.decode(text)
        return result.ok ? result.frames : []
      })
      const ping = allFrames.findIndex((frame) => frame.kind === 'ping')
      expect(allFrames.slice(0, ping).filter((frame) => frame.kind === 'event')).toHaveLength(1_501)
    } finally {
      vi.useRealTimers()
    }
  })

  it('drop-oldest counts every dropped event once and keeps the newest, in order', () => {
    const codec = createTextCodec()
    const chunks = new SharedChunks()
    const frameBytes = codec.event('t', 'o', 100_000).length
    const make = () => {
      const link = { sent: [] as string[], buffered: 10_000 }
      let dropped = 0
      const writer = new LinkWriter(
        { send: (data) => link.sent.push(data), close: () => {}, bufferedBytes: () => link.buffered },
        codec,
        options({
          maxBufferedBytes: 10_000 + 300 * frameBytes,
          sharedChunks: chunks,
          onDrop: (n) => {
            dropped += n
          },
        }),
      )
      writer.writeControl(codec.sub('t'))
      writer.flush()
      return { link, writer, dropped: () => dropped }
    }
    const a = make()
    const b = make()
    for (let n = 100_000; n < 105_000; n++) {
      const frame = codec.event('t', 'o', n)
      a.writer.writeEvent(frame)
      b.writer.writeEvent(frame)
    }
    for (const w of [a, b]) {
      w.link.buffered = 0
      w.writer.drained()
      const got = w.link.sent.flatMap((text) => {
        const result = codec.decode(text)
        if (!result.ok) throw result.error
        return result.frames.flatMap((frame) => (frame.kind === 'event' ? [frame.detail as number] : []))
      })
      expect(got.length).toBeGreaterThan(0)
      expect(got.length).toBeLessThanOrEqual(300)
      // The newest, with no hole: the last event written, and every one before it back to the first kept.
      expect(got.at(-1)).toBe(104_999)
      expect(got).toEqual(Array.from({ length: got.length }, (_, i) => 105_000 - got.length + i))
      expect(w.dropped() + got.length).toBe(5_000)
    }
  })
})

describe('LinkWriter: runs on text links', () => {
  it('writes same-type events from one origin as one run once the other side reads runs, and not before', () => {
    const codec = createTextCodec()
    const sent: string[] = []
    const writer = new LinkWriter({ send: (data) => sent.push(data), close: () => {} }, codec, options())
    const write = () => {
      for (const n of [1, 2, 3])
        writer.writeEvent(codec.event('tick', 'node', n), codec.runKey!('tick', 'node'))
      writer.flush()
    }
    write()
    writer.enableRuns()
    write()
    expect(sent).toEqual([
      '[4,[1,"tick","node",1],[1,"tick","node",2],[1,"tick","node",3]]',
      '[9,"tick","node",0,1,2,3]',
    ])
  })
})
