import { describe, expect, it } from 'vitest'
import { bridge } from '../../src/bridge/index.js'
import { createInProcessEventTarget } from '../../src/event-target-in-process/index.js'
import type { EventwireError } from '../../src/index.js'
import { waitFor } from '../../src/testing/index.js'
import { createMemoryConnector, eventHops, Hub, Spoke } from '../../src/transport/index.js'

describe('bridge', () => {
  it('forwards listed types both ways, each event once, never back across the bridge', () => {
    const a = createInProcessEventTarget()
    const b = createInProcessEventTarget()
    const link = bridge(a, b, { types: ['t'] })
    const onA: unknown[] = []
    const onB: unknown[] = []
    a.addEventListener('t', (event) => onA.push(event.detail))
    b.addEventListener('t', (event) => onB.push(event.detail))
    a.dispatchEvent(new CustomEvent('t', { detail: 'from a' }))
    b.dispatchEvent(new CustomEvent('t', { detail: 'from b' }))
    a.dispatchEvent(new CustomEvent('other', { detail: 'stays' }))
    expect(onA).toEqual(['from a', 'from b'])
    expect(onB).toEqual(['from a', 'from b'])
    expect(link.stats()).toMatchObject({ forwardedAToB: 1, forwardedBToA: 1, dropped: 0 })
    link.close()
    expect(a.stats().subscriptions).toBe(1)
    expect(b.stats().subscriptions).toBe(1)
  })

  it('listens on the other side only for the types a hub topology wants, and stops when they leave', async () => {
    const hub = new Hub()
    const connector = createMemoryConnector(hub)
    const spoke = new Spoke({ connect: connector.connect, heartbeatIntervalMs: 0 })
    const outside = createInProcessEventTarget()
    const link = bridge(hub, outside)
    try {
      await spoke.ready
      expect(outside.stats().subscriptions).toBe(0)
      const got: unknown[] = []
      const listener = (event: Event) => got.push((event as CustomEvent).detail)
      spoke.addEventListener('news', listener)
      await spoke.flush()
      expect(outside.stats().subscriptions).toBe(1)
      outside.dispatchEvent(new CustomEvent('news', { detail: 'in' }))
      await waitFor(() => got.length === 1, { timeoutMs: 2_000 })
      spoke.removeEventListener('news', listener)
      await spoke.flush()
      expect(outside.stats().subscriptions).toBe(0)
      expect(link.stats().listening).toBe(0)
      // The hub side is tapped: what its spokes publish crosses without a listener per type.
      const seen: unknown[] = []
      outside.addEventListener('report', (event) => seen.push(event.detail))
      spoke.dispatchEvent(new CustomEvent('report', { detail: 'out' }))
      await waitFor(() => seen.length === 1, { timeoutMs: 2_000 })
      expect(got).toEqual(['in'])
      expect(seen).toEqual(['out'])
    } finally {
      link.close()
      await spoke.close()
      await hub.close()
    }
  })

  it('a cycle of bridges delivers each event once on every target and never back to its dispatcher', () => {
    const targets = [createInProcessEventTarget(), createInProcessEventTarget(), createInProcessEventTarget()]
    const errors: EventwireError[] = []
    const options = { types: ['t'], onError: (error: EventwireError) => errors.push(error) }
    const links = [0, 1, 2].map((i) => bridge(targets[i]!, targets[(i + 1) % 3]!, options))
    const seen = targets.map(() => [] as unknown[])
    for (const [i, target] of targets.entries())
      target.addEventListener('t', (event) => seen[i]!.push(event.detail))
    for (const [i, target] of targets.entries()) target.dispatchEvent(new CustomEvent('t', { detail: i }))
    for (const got of seen) expect([...got].sort()).toEqual([0, 1, 2])
    expect(errors).toEqual([])
    expect(links.reduce((sum, link) => sum + link.stats().deduplicated, 0)).toBeGreaterThan(0)
    for (const link of links) link.close()
  })

  it('stops an event that crossed hopLimit bridges and reports it', () => {
    const chain = Array.from({ length: 5 }, () => createInProcessEventTarget())
    const errors: EventwireError[] = []
    const options = { types: ['t'], hopLimit: 2, onError: (error: EventwireError) => errors.push(error) }
    const links = [0, 1, 2, 3].map((i) => bridge(chain[i]!, chain[i + 1]!, options))
    const hopsSeen = chain.map(() => [] as number[])
    for (const [i, target] of chain.entries()) {
      target.addEventListener('t', (event) => hopsSeen[i]!.push(eventHops(event)))
    }
    chain[0]!.dispatchEvent(new CustomEvent('t'))
    expect(hopsSeen).toEqual([[0], [1], [2], [], []])
    expect(errors.map((error) => error.code)).toEqual(['ERR_HOP_LIMIT'])
    for (const link of links) link.close()
  })

  it('needs a list of types when neither side can report its interest, and removes what it added on close', () => {
    const a = createInProcessEventTarget()
    const b = createInProcessEventTarget()
    expect(() => bridge(a, b)).toThrow(/types/)
    expect(() => bridge(a, a, { types: ['t'] })).toThrow(/different target/)
    const link = bridge(a, b, { types: ['x', 'y'] })
    expect(a.stats().subscriptions).toBe(2)
    link.close()
    link.close()
    expect([a.stats().subscriptions, b.stats().subscriptions]).toEqual([0, 0])
  })

  it('applies the filter per direction and reports a detail the other side cannot carry', async () => {
    const hub = new Hub()
    const connector = createMemoryConnector(hub)
    const spoke = new Spoke({ connect: connector.connect, heartbeatIntervalMs: 0 })
    const local = createInProcessEventTarget()
    const errors: EventwireError[] = []
    const link = bridge(local, hub, {
      types: ['t'],
      filter: (event, direction) => direction === 'a-to-b' && (event as CustomEvent).detail !== 'secret',
      onError: (error) => errors.push(error),
    })
    try {
      const got: unknown[] = []
      spoke.addEventListener('t', (event) => got.push(event.detail))
      await spoke.flush()
      for (const detail of ['secret', 1n, 'public']) local.dispatchEvent(new CustomEvent('t', { detail }))
      await waitFor(() => got.length === 1, { timeoutMs: 2_000 })
      expect(got).toEqual(['public'])
      expect(errors.map((error) => error.code)).toEqual(['ERR_SERIALIZE'])
      expect(link.stats()).toMatchObject({ forwardedAToB: 1, dropped: 1 })
    } finally {
      link.close()
      await spoke.close()
      await hub.close()
    }
  })
})
