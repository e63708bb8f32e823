import { describe, expect, it } from 'vitest'
import { SequenceTracker } from '../../src/event-target-redis/sequence.js'
import type { EventwireError } from '../../src/index.js'

function tracker(): { sequences: SequenceTracker; reports: EventwireError[] } {
  const reports: EventwireError[] = []
  const sequences = new SequenceTracker((error) => {
    reports.push(error)
    return true
  })
  return { sequences, reports }
}

describe('Redis sequence tracking', () => {
  it('numbers sent events at least by the clock in µs, strictly increasing once recorded', () => {
    const { sequences } = tracker()
    const before = Math.floor((performance.timeOrigin + performance.now()) * 1000)
    const first = sequences.next()
    expect(first).toBeGreaterThanOrEqual(before)
    // Not recorded: the same number may be handed out again.
    expect(sequences.next()).toBeGreaterThanOrEqual(first)
    sequences.sent(first + 5_000_000)
    expect(sequences.next()).toBe(first + 5_000_001)
  })

  it('takes each origin and type on its own, and refuses copies and late arrivals within the window', () => {
    const { sequences, reports } = tracker()
    expect(sequences.isNewer('a', 't', 100)).toBe(true)
    expect(sequences.isNewer('a', 't', 100)).toBe(false)
    expect(sequences.isNewer('a', 't', 99)).toBe(false)
    expect(sequences.isNewer('b', 't', 50)).toBe(true)
    expect(sequences.isNewer('a', 'u', 50)).toBe(true)
    expect(sequences.isNewer('a', 't', 101)).toBe(true)
    expect(reports).toEqual([])
  })

  it('takes a number more than 10 s behind as new, and reports it', () => {
    const { sequences, reports } = tracker()
    expect(sequences.isNewer('a', 't', 20_000_000)).toBe(true)
    expect(sequences.isNewer('a', 't', 10_000_001)).toBe(false)
    expect(sequences.isNewer('a', 't', 10_000_000)).toBe(true)
    expect(reports.map((error) => error.code)).toEqual(['ERR_SEQUENCE'])
    expect(reports[0]!.message).toContain('10 s behind')
    // The new number is the one to beat now.
    expect(sequences.isNewer('a', 't', 10_000_000)).toBe(false)
  })

  it('counts drops per origin in its reports', () => {
    const { sequences, reports } = tracker()
    sequences.dropped('a', 't')
    sequences.dropped('a', 'u')
    sequences.dropped('b', 't')
    expect(reports.map((error) => [error.code, error.eventType])).toEqual([
      ['ERR_SEQUENCE', 't'],
      ['ERR_SEQUENCE', 'u'],
      ['ERR_SEQUENCE', 't'],
    ])
    expect(reports.map((error) => error.message.match(/\((\d+) from it so far\)/)?.[1])).toEqual([
      '1',
      '2',
      '1',
    ])
  })

  it('forgets the type tracked longest past 10,000 (origin, type) pairs, costing only the protection', () => {
    const { sequences } = tracker()
    for (let index = 0; index < 10_000; index++) sequences.isNewer('a', `t${index}`, 100)
    expect(sequences.isNewer('a', 't0', 100)).toBe(false)
    // One pair more: t0, the oldest, is forgotten, so its copy is taken as new.
    expect(sequences.isNewer('a', 'extra', 100)).toBe(true)
    expect(sequences.isNewer('a', 't1', 100)).toBe(false)
    expect(sequences.isNewer('a', 't0', 100)).toBe(true)
  })
})
