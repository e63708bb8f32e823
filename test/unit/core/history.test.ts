import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { EventwireError } from '../../../src/core/errors.js'
import {
  type HistoryEntry,
  type HistorySince,
  MemoryHistory,
  type MemoryHistoryOptions,
} from '../../../src/core/history.js'
import { MemoryHistory as FromTransport } from '../../../src/transport/index.js'
import { heapUsed } from '../../support/hostile.js'

/** A clock the test moves by hand: ages are tested without waiting. */
function clock(start = 1_000_000) {
  let now = start
  return {
    now: () => now,
    advance: (ms: number) => {
      now += ms
    },
  }
}

function history(options: MemoryHistoryOptions = {}) {
  const time = clock()
  return { store: new MemoryHistory({ now: time.now, ...options }), ...time }
}

function appendMany(store: MemoryHistory, type: string, count: number, text = (i: number) => `${i}`) {
  const positions = []
  for (let i = 0; i < count; i++) positions.push(store.append(type, { origin: 'node', text: text(i) }))
  return positions
}

function offsets(result: HistorySince): number[] {
  if (!result.recovered) throw new Error(`not recovered: ${result.reason}`)
  return result.entries.map((entry) => entry.offset)
}

function range(from: number, to: number): number[] {
  return Array.from({ length: to - from + 1 }, (_, i) => from + i)
}

/** Runs `call` and returns the code of the EventwireError it throws; fails on anything else. */
function codeOf(call: () => unknown): string {
  try {
    call()
  } catch (error) {
    expect(error).toBeInstanceOf(EventwireError)
    return (error as EventwireError).code
  }
  throw new Error('did not throw')
}

describe('MemoryHistory', () => {
  it('is exported from eventwire/transport', () => {
    expect(FromTransport).toBe(MemoryHistory)
  })

  it('gives each type offsets from 1, one more per event, in one epoch', () => {
    const { store } = history()
    const a = appendMany(store, 'a', 3)
    const b = appendMany(store, 'b', 2)
    expect(a.map((position) => position.offset)).toEqual([1, 2, 3])
    expect(b.map((position) => position.offset)).toEqual([1, 2])
    expect(new Set(a.map((position) => position.epoch)).size).toBe(1)
    expect(store.latest('a')).toEqual({ epoch: a[0]!.epoch, offset: 3 })
    expect(store.latest('b')).toEqual({ epoch: b[0]!.epoch, offset: 2 })
  })

  it('keeps what a replay needs: type, origin, text, detail, hops, id and time', () => {
    const { store, now } = history()
    const detail = { n: 1 }
    store.append('chat', { origin: 'o1', text: '{"n":1}', detail, hops: 2, id: 'ev-1' })
    store.append('chat', { origin: 'o2', detail: 'plain', time: 5 })
    const result = store.since('chat', store.latest('chat').epoch, 0)
    expect(result.recovered).toBe(true)
    const [first, second] = (result as { entries: readonly HistoryEntry[] }).entries
    expect(first).toMatchObject({
      type: 'chat',
      offset: 1,
      origin: 'o1',
      text: '{"n":1}',
      hops: 2,
      id: 'ev-1',
    })
    expect(first!.detail).toBe(detail)
    expect(first!.time).toBe(now())
    expect(second).toMatchObject({
      offset: 2,
      origin: 'o2',
      text: undefined,
      detail: 'plain',
      hops: 0,
      time: 5,
    })
  })

  it('answers the entries strictly after an offset, in order, and nothing for the latest offset', () => {
    const { store } = history()
    const { epoch } = appendMany(store, 't', 50)[0]!
    expect(offsets(store.since('t', epoch, 0))).toEqual(range(1, 50))
    expect(offsets(store.since('t', epoch, 17))).toEqual(range(18, 50))
    expect(offsets(store.since('t', epoch, 49))).toEqual([50])
    const done = store.since('t', epoch, 50)
    expect(done).toEqual({ recovered: true, entries: [], latest: { epoch, offset: 50 } })
  })

  it('pages by limit: read again from the last entry until it is the latest', () => {
    const { store } = history()
    const { epoch } = appendMany(store, 't', 25)[0]!
    const got: number[] = []
    let from = 0
    for (;;) {
      const result = store.since('t', epoch, from, { limit: 10 })
      const page = offsets(result)
      expect(page.length).toBeLessThanOrEqual(10)
      got.push(...page)
      if (page.length === 0 || page.at(-1) === result.latest.offset) break
      from = page.at(-1)!
    }
    expect(got).toEqual(range(1, 25))
  })

  it('has a new epoch per instance: a restarted history answers "epoch", with where it stands now', () => {
    const first = history().store
    const { epoch } = appendMany(first, 't', 5)[0]!
    const restarted = history().store
    appendMany(restarted, 't', 2)
    const result = restarted.since('t', epoch, 5)
    expect(result).toEqual({
      recovered: false,
      reason: 'epoch',
      latest: { epoch: restarted.latest('t').epoch, offset: 2 },
    })
    expect(restarted.latest('t').epoch).not.toBe(epoch)
  })

  it('gives a reader of a type without events a position from which it recovers the first events', () => {
    const { store } = history()
    const start = store.latest('quiet')
    expect(start.offset).toBe(0)
    appendMany(store, 'quiet', 2)
    expect(offsets(store.since('quiet', start.epoch, start.offset))).toEqual([1, 2])
    expect(store.usage().types).toBe(1)
  })

  it('answers "ahead" for an offset beyond the latest of the epoch', () => {
    const { store } = history()
    const { epoch } = appendMany(store, 't', 3)[0]!
    expect(store.since('t', epoch, 4)).toMatchObject({ recovered: false, reason: 'ahead' })
    expect(store.since('t', epoch, Number.MAX_SAFE_INTEGER)).toMatchObject({
      recovered: false,
      reason: 'ahead',
    })
    expect(store.since('unknown', store.latest('unknown').epoch, 1)).toMatchObject({
      recovered: false,
      reason: 'ahead',
    })
  })

  it('keeps maxEvents per type: a reader from before the oldest kept is not recovered (too-old)', () => {
    const { store } = history({ maxEvents: 10 })
    const { epoch } = appendMany(store, 't', 25)[0]!
    appendMany(store, 'other', 3)
    expect(offsets(store.since('t', epoch, 15))).toEqual(range(16, 25))
    expect(store.since('t', epoch, 14)).toEqual({
      recovered: false,
      reason: 'too-old',
      latest: { epoch, offset: 25 },
    })
    expect(store.since('t', epoch, 0)).toMatchObject({ recovered: false, reason: 'too-old' })
    expect(store.usage().events).toBe(13)
  })

  it('keeps entries for maxAgeMs: older ones are trimmed and not replayed, by the injected clock', () => {
    const { store, advance } = history({ maxAgeMs: 1_000 })
    const { epoch } = appendMany(store, 't', 3)[0]! // t = 0
    advance(500)
    appendMany(store, 't', 2) // t = 500
    advance(700) // t = 1200: offsets 1 to 3 are 1,200 ms old
    expect(store.since('t', epoch, 0)).toMatchObject({ recovered: false, reason: 'too-old' })
    expect(offsets(store.since('t', epoch, 3))).toEqual([4, 5])
    advance(400) // t = 1600: everything is too old...
    expect(store.since('t', epoch, 3)).toMatchObject({ recovered: false, reason: 'too-old' })
    // ...but a reader that missed nothing has lost nothing, however quiet the type has been.
    expect(store.since('t', epoch, 5)).toEqual({ recovered: true, entries: [], latest: { epoch, offset: 5 } })
    // An append trims what has expired; prune() trims every type.
    expect(store.usage().events).toBe(5)
    store.append('t', { origin: 'node' })
    expect(store.usage().events).toBe(1)
    appendMany(store, 'u', 2)
    advance(2_000)
    store.prune()
    expect(store.usage().events).toBe(0)
    expect(store.latest('t')).toEqual({ epoch, offset: 6 })
  })

  it('bounds the count across types: the oldest of all go first and answer too-old', () => {
    const { store } = history({ maxTotalEvents: 100 })
    const epochs = new Map<string, string>()
    for (let round = 0; round < 30; round++) {
      for (let type = 0; type < 10; type++) {
        epochs.set(`t${type}`, store.append(`t${type}`, { origin: 'node' }).epoch)
      }
    }
    expect(store.usage().events).toBe(100)
    for (const [type, epoch] of epochs) {
      // 30 each, the last 10 of each kept.
      expect(store.since(type, epoch, 19)).toMatchObject({ recovered: false, reason: 'too-old' })
      expect(offsets(store.since(type, epoch, 20))).toEqual(range(21, 30))
    }
  })

  it('bounds the estimated bytes across types, a large entry counting by its text', () => {
    const { store } = history({ maxTotalBytes: 10_000 })
    const big = 'x'.repeat(1_000) // about 2,096 bytes each
    const { epoch } = appendMany(store, 'big', 10, () => big)[0]!
    expect(store.usage().bytes).toBeLessThanOrEqual(10_000)
    expect(store.usage().events).toBe(4)
    expect(offsets(store.since('big', epoch, 6))).toEqual([7, 8, 9, 10])
    expect(store.since('big', epoch, 5)).toMatchObject({ recovered: false, reason: 'too-old' })
    // An entry larger than the whole budget is not kept at all.
    store.append('big', { origin: 'node', text: 'y'.repeat(10_000) })
    expect(store.usage()).toEqual({ types: 1, events: 0, bytes: 0 })
    expect(store.since('big', epoch, 10)).toMatchObject({ recovered: false, reason: 'too-old' })
    expect(offsets(store.since('big', epoch, 11))).toEqual([])
  })

  it('measures value details with sizeOf when given', () => {
    const { store } = history({ maxTotalBytes: 1_000, sizeOf: () => 300 })
    appendMany(store, 't', 10)
    expect(store.usage()).toMatchObject({ events: 3, bytes: 900 })
  })

  it('keeps memory bounded: fresh 1 KB texts by the thousand, a busy type behind a quiet one', () => {
    // Per-type bounds decide here (8 types × 200 × about 2 KB is under the byte bound), so the quiet
    // entry stays first in the order of all types while a hundred thousand entries are trimmed behind it.
    const { store } = history({ maxEvents: 200, maxTotalBytes: 4 * 1024 * 1024 })
    store.append('quiet', { origin: 'node', text: 'first of all' })
    const before = heapUsed()
    for (let i = 0; i < 100_000; i++) {
      store.append(`busy${i % 8}`, { origin: 'node', text: `${i}`.padStart(1_024, '-') })
    }
    const growth = heapUsed() - before
    // Unbounded, this would hold about 200 MB of text.
    expect(store.usage().bytes).toBeLessThanOrEqual(4 * 1024 * 1024)
    expect(growth).toBeLessThan(24 * 1024 * 1024)
    const quiet = store.latest('quiet')
    expect(offsets(store.since('quiet', quiet.epoch, 0))).toEqual([1])
  })

  it('keeps maxTypes positions, forgetting about the least recently appended type, with new epochs', () => {
    const { store, advance } = history({ maxTypes: 3 })
    const a = store.append('a', { origin: 'node' })
    advance(1)
    appendMany(store, 'b', 1)
    advance(1)
    appendMany(store, 'c', 1)
    const unknown = store.latest('d')
    advance(1)
    appendMany(store, 'd', 1) // forgets a
    expect(store.usage().types).toBe(3)
    expect(store.since('a', a.epoch, 1)).toMatchObject({ recovered: false, reason: 'epoch' })
    expect(store.latest('a').epoch).not.toBe(a.epoch)
    expect(offsets(store.since('b', a.epoch, 0))).toEqual([1])
    // d's reader asked before d's first event: forgetting another type for it does not cost d's reader.
    expect(offsets(store.since('d', unknown.epoch, 0))).toEqual([1])
    // A reader told "offset 0" for an unknown type before the eviction cannot trust it any more.
    expect(store.since('e', unknown.epoch, 0)).toMatchObject({ recovered: false, reason: 'epoch' })
    const again = store.append('a', { origin: 'node' })
    expect(again.offset).toBe(1)
    expect(again.epoch).not.toBe(a.epoch)
  })

  it('refuses wrong arguments with ERR_INVALID_OPTION, before doing anything', () => {
    const { store } = history()
    const { epoch } = appendMany(store, 't', 3)[0]!
    const wrong = store as unknown as Record<string, (...args: unknown[]) => unknown>
    for (const badEpoch of [undefined, null, 7, '', 'x'.repeat(65), 'x'.repeat(1_000_000), {}, ['e']]) {
      expect(codeOf(() => wrong.since!.call(store, 't', badEpoch, 0))).toBe('ERR_INVALID_OPTION')
    }
    for (const badOffset of [-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 60, '5', null, 5n, {}]) {
      expect(codeOf(() => wrong.since!.call(store, 't', epoch, badOffset))).toBe('ERR_INVALID_OPTION')
    }
    for (const badType of ['', 'x'.repeat(257), 42, null, undefined, Symbol('t')]) {
      expect(codeOf(() => wrong.since!.call(store, badType, epoch, 0))).toBe('ERR_INVALID_OPTION')
      expect(codeOf(() => wrong.latest!.call(store, badType))).toBe('ERR_INVALID_OPTION')
      expect(codeOf(() => wrong.append!.call(store, badType, { origin: 'o' }))).toBe('ERR_INVALID_OPTION')
    }
    for (const limit of [0, -1, 1.5, '10', Number.NaN]) {
      expect(codeOf(() => store.since('t', epoch, 0, { limit: limit as number }))).toBe('ERR_INVALID_OPTION')
    }
    const badRecords = [
      null,
      'text',
      {},
      { origin: '' },
      { origin: 'x'.repeat(129) },
      { origin: 'o', text: 5 },
      { origin: 'o', hops: 256 },
      { origin: 'o', hops: -1 },
      { origin: 'o', id: '' },
      { origin: 'o', time: Number.NaN },
    ]
    for (const record of badRecords) {
      expect(codeOf(() => wrong.append!.call(store, 't', record))).toBe('ERR_INVALID_OPTION')
    }
    expect(store.latest('t')).toEqual({ epoch, offset: 3 })
  })

  it('refuses bad options with ERR_INVALID_OPTION naming them', () => {
    const cases: Array<[string, unknown]> = [
      ['maxEvents', 0],
      ['maxEvents', Number.POSITIVE_INFINITY],
      ['maxAgeMs', -5],
      ['maxTotalEvents', 1.5],
      ['maxTotalBytes', '1mb'],
      ['maxTypes', Number.NaN],
      ['sizeOf', 12],
      ['now', 'today'],
    ]
    for (const [name, value] of cases) {
      try {
        new MemoryHistory({ [name]: value } as MemoryHistoryOptions)
        throw new Error(`${name} accepted`)
      } catch (error) {
        expect(error).toBeInstanceOf(EventwireError)
        expect((error as EventwireError).code).toBe('ERR_INVALID_OPTION')
        expect((error as EventwireError).message).toContain(name)
      }
    }
    expect(() => new MemoryHistory({ maxAgeMs: Number.POSITIVE_INFINITY })).not.toThrow()
  })

  it('answers any position with a result or an EventwireError, in bounded work (property)', () => {
    const { store } = history({ maxEvents: 100 })
    const { epoch } = appendMany(store, 't', 300)[0]!
    const anything = fc.oneof(
      fc.anything(),
      fc.integer(),
      fc.double(),
      fc.string({ maxLength: 80 }),
      fc.constant(epoch),
      fc.integer({ min: 0, max: 400 }),
    )
    fc.assert(
      fc.property(
        fc.oneof(fc.constant('t'), fc.constant('none'), anything),
        anything,
        anything,
        fc.option(anything),
        (type, givenEpoch, offset, limit) => {
          let result: HistorySince
          try {
            result = (store.since as (...args: unknown[]) => HistorySince)(type, givenEpoch, offset, {
              limit,
            })
          } catch (error) {
            expect(error).toBeInstanceOf(EventwireError)
            expect((error as EventwireError).code).toBe('ERR_INVALID_OPTION')
            return
          }
          if (result.recovered) {
            expect(result.entries.length).toBeLessThanOrEqual(100)
            result.entries.forEach((entry, i) => {
              expect(entry.offset).toBe((offset as number) + 1 + i)
            })
          } else {
            expect(['epoch', 'too-old', 'ahead']).toContain(result.reason)
          }
        },
      ),
      { numRuns: 2_000 },
    )
  })
})
