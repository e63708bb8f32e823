import { describe, expect, it } from 'vitest'
import { bridge } from '../../src/bridge/index.js'
import { createInProcessEventTarget } from '../../src/event-target-in-process/index.js'
import { createMemoryConnector, type EventwireError, eventHops, Hub, Spoke } from '../../src/index.js'
import { waitFor } from '../../src/testing/index.js'

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

  it('stops a cycle of bridges at the hop limit and reports it', () => {
    const [a, b, c] = [
      createInProcessEventTarget(),
      createInProcessEventTarget(),
      createInProcessEventTarget(),
    ]
    const errors: EventwireError[] = []
    const options = { types: ['t'], hopLimit: 4, onError: (error: EventwireError) => errors.push(error) }
    const links = [bridge(a, b, options), bridge(b, c, options), bridge(c, a, options)]
    const hopsSeen: number[] = []
    a.addEventListener('t', (event) => hopsSeen.push(eventHops(event)))
    a.dispatchEvent(new CustomEvent('t'))
    // Around the cycle both ways until four bridges were crossed, then dropped, never unbounded.
    expect(hopsSeen.length).toBeLessThan(10)
    expect(Math.max(...hopsSeen)).toBeLessThanOrEqual(4)
    expect(errors.length).toBeGreaterThan(0)
    expect(errors.every((error) => error.code === 'ERR_HOP_LIMIT')).toBe(true)
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
