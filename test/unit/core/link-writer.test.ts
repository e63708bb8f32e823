import { describe, expect, it, vi } from 'vitest'
import { type CloneFrame, createCloneCodec, createTextCodec } from '../../../src/core/codec.js'
import { LinkWriter, type LinkWriterOptions, unsendableEventError } from '../../../src/core/link-writer.js'

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
