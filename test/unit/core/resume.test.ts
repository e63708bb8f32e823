import { describe, expect, it } from 'vitest'
import type { EventwireError } from '../../../src/core/errors.js'
import {
  decodeFrames,
  encodeBatch,
  encodeHello,
  encodeResume,
  encodeSub,
  type Frame,
} from '../../../src/core/frame.js'
import { type HistoryStore, MemoryHistory } from '../../../src/core/history.js'
import { Hub, type HubOptions } from '../../../src/core/hub.js'
import type { Link, LinkCloseInfo } from '../../../src/core/link.js'
import { createMemoryConnector } from '../../../src/core/memory-link.js'
import { Spoke, type SpokeConnector } from '../../../src/core/spoke.js'
import type { EventwireStatus, TypedEvent } from '../../../src/core/types.js'
import { createPubSub, type PubSubEventTarget } from '../../../src/pubsub/index.js'
import { waitFor } from '../../../src/testing/index.js'

const fast = { initialDelayMs: 5, maxDelayMs: 20 }

/** A link whose far end is the test: it records what the hub writes. */
class RecordingLink implements Link {
  sent: string[] = []
  closedWith: { code: number; reason: string } | undefined
  buffered = 0
  send(data: string): void {
    this.sent.push(data)
  }
  close(code: number, reason: string): void {
    this.closedWith ??= { code, reason }
  }
  bufferedBytes(): number {
    return this.buffered
  }
  frames(): Frame[] {
    return this.sent.flatMap((data) => {
      const result = decodeFrames(data)
      if (!result.ok) throw result.error
      return result.frames
    })
  }
  of<K extends Frame['kind']>(kind: K): Array<Extract<Frame, { kind: K }>> {
    return this.frames().filter((frame): frame is Extract<Frame, { kind: K }> => frame.kind === kind)
  }
}

const nextTask = () => new Promise((resolve) => setTimeout(resolve, 0))

/** A hub with history for `tick` (and what `options` add), and raw links that speak for a spoke. */
function rawHub(options: HubOptions = {}) {
  const errors: EventwireError[] = []
  const hub = new Hub({ onError: (error) => errors.push(error), history: { types: ['tick'] }, ...options })
  const connect = (features: string[] = ['run', 'resume'], principal?: unknown) => {
    const link = new RecordingLink()
    const connection = hub.accept(link, { principal })
    connection.receive(encodeHello(`spoke-${Math.random()}`, 'spoke', features as never))
    return { link, connection }
  }
  return { hub, errors, connect }
}

/** A hub with history and spokes over in-memory links, each with its own connector (to sever it alone). */
function memoryTopology(options: HubOptions = {}) {
  const errors: EventwireError[] = []
  const hub = new Hub({ onError: (error) => errors.push(error), history: { types: ['tick'] }, ...options })
  const spokes: Array<{ spoke: Spoke; statuses: EventwireStatus[]; sever: () => void }> = []
  const add = (connect?: SpokeConnector) => {
    const connector = createMemoryConnector(hub)
    const statuses: EventwireStatus[] = []
    const spoke = new Spoke({
      connect: connect ?? connector.connect,
      heartbeatIntervalMs: 0,
      reconnect: fast,
      onError: (error) => errors.push(error),
      onStatus: (status) => statuses.push(status),
    })
    const entry = { spoke, statuses, sever: () => connector.sever() }
    spokes.push(entry)
    return entry
  }
  const close = async () => {
    await Promise.all(spokes.map(({ spoke }) => spoke.close()))
    await hub.close()
  }
  return { hub, errors, add, close }
}

const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i)
const reconnected = (statuses: EventwireStatus[], count: number) =>
  statuses.filter((status) => status.type === 'connected').length >= count

describe('frames of recovery', () => {
  it('decode positions, resumes and answers, and refuse hostile ones', () => {
    const ok = decodeFrames(
      '[4,[10,"t","e1",1],[10,"t"],[11,"t","e1",0],[12,"t","recovered",3],[12,"t","too-old",0]]',
    )
    expect(ok).toEqual({
      ok: true,
      frames: [
        { kind: 'position', type: 't', epoch: 'e1', offset: 1 },
        { kind: 'position', type: 't', epoch: undefined, offset: 0 },
        { kind: 'resume', type: 't', epoch: 'e1', offset: 0 },
        { kind: 'resumed', type: 't', outcome: 'recovered', count: 3 },
        { kind: 'resumed', type: 't', outcome: 'too-old', count: 0 },
      ],
    })
    for (const hostile of [
      `[11,"t","${'e'.repeat(65)}",1]`,
      '[11,"t","",1]',
      '[11,"t","e",-1]',
      '[11,"t","e",1.5]',
      `[11,"t","e",${2 ** 53}]`,
      '[11,"t","e","1"]',
      '[11,"t","e"]',
      '[11,"","e",1]',
      '[10,"t","e",0]',
      '[10,"t","e"]',
      '[12,"t","maybe",0]',
      '[12,"t","recovered",-1]',
    ]) {
      const result = decodeFrames(hostile)
      expect(result.ok, hostile).toBe(false)
      if (!result.ok) expect(result.error.code).toBe('ERR_FRAME_MALFORMED')
    }
  })
})

describe('hub with history, raw links', () => {
  it('lists resume in its hello only with a history; sends positions only to links that listed it', async () => {
    const plain = new Hub({})
    const link = new RecordingLink()
    plain.accept(link).receive(encodeHello('a', 'spoke', ['resume']))
    await nextTask()
    expect(link.of('hello')[0]!.features ?? []).not.toContain('resume')
    await plain.close()

    const { hub, connect } = rawHub()
    const resuming = connect()
    const old = connect([])
    resuming.connection.receive(encodeSub('tick'))
    old.connection.receive(encodeSub('tick'))
    for (const n of [1, 2, 3]) hub.dispatchEvent(new CustomEvent('tick', { detail: n }))
    await nextTask()
    expect(resuming.link.of('hello')[0]!.features).toContain('resume')
    // One position, then the events count from it: they still travel as one run.
    expect(resuming.link.of('position')).toEqual([
      { kind: 'position', type: 'tick', epoch: expect.any(String), offset: 1 },
    ])
    expect(resuming.link.sent.at(-1)).toMatch(/\[10,"tick","[^"]+",1\],\[9,"tick",/)
    expect(old.link.of('position')).toEqual([])
    expect(old.link.of('event').map((frame) => frame.detail)).toEqual([1, 2, 3])
    await hub.close()
  })

  it('answers hostile resume frames without replaying what it should not, bounded like subs', async () => {
    const store = new MemoryHistory()
    const { hub, connect, errors } = rawHub({
      history: { types: () => true, store },
      authorize: ({ type }) => type !== 'secret',
      maxSubscriptionsPerConnection: 3,
    })
    for (const n of [1, 2, 3]) hub.dispatchEvent(new CustomEvent('tick', { detail: n }))
    for (const n of [1, 2]) hub.dispatchEvent(new CustomEvent('secret', { detail: n }))
    const { epoch } = store.latest('tick')
    const a = connect()
    // An absurd offset, a wrong epoch, a type not allowed, the same type again and again.
    a.connection.receive(
      encodeBatch([
        encodeResume('tick', epoch, Number.MAX_SAFE_INTEGER),
        encodeResume('other', 'no-such-epoch', 0),
        encodeResume('secret', epoch, 0),
        ...Array.from({ length: 1_000 }, () => encodeResume('tick', epoch, 0)),
      ]),
    )
    await nextTask()
    expect(a.link.of('resumed')).toEqual([
      { kind: 'resumed', type: 'tick', outcome: 'ahead', count: 0 },
      { kind: 'resumed', type: 'other', outcome: 'epoch', count: 0 },
    ])
    expect(a.link.of('event')).toEqual([])
    expect(errors.map((error) => error.code)).toEqual(['ERR_UNAUTHORIZED'])

    // Resumes are subs: past maxSubscriptionsPerConnection, ERR_LIMIT and nothing replayed.
    const b = connect()
    b.connection.receive(
      encodeBatch(['t1', 't2', 't3', 't4'].map((type) => encodeResume(type, 'no-such-epoch', 0))),
    )
    await nextTask()
    expect(b.link.of('resumed').map((frame) => frame.type)).toEqual(['t1', 't2', 't3'])
    expect(b.link.of('error').map((frame) => frame.code)).toEqual(['ERR_LIMIT'])

    // A malformed position is refused whole; the link stays.
    b.connection.receive(`[11,"tick","${'e'.repeat(65)}",0]`)
    await nextTask()
    expect(b.link.of('error').map((frame) => frame.code)).toEqual(['ERR_LIMIT', 'ERR_FRAME_MALFORMED'])
    expect(b.link.closedWith).toBeUndefined()
    await hub.close()
  })

  it('closes a resuming link that overflows instead of dropping events (it resumes exactly), and keeps dropping for old links', async () => {
    const { hub, connect } = rawHub({ maxBufferedBytes: 4_096 })
    const resuming = connect()
    const old = connect([])
    resuming.connection.receive(encodeSub('tick'))
    old.connection.receive(encodeSub('tick'))
    await nextTask()
    resuming.link.buffered = 1_000_000
    old.link.buffered = 1_000_000
    await hub.flush()
    for (let n = 0; n < 500; n++) hub.dispatchEvent(new CustomEvent('tick', { detail: 'x'.repeat(40) }))
    expect(resuming.link.closedWith?.code).toBe(1013)
    expect(old.link.closedWith).toBeUndefined()
    expect(hub.stats().dropped).toBeGreaterThan(0)
    await hub.close()
  })
})

describe('hub and spokes with history, in-memory links', () => {
  it('a spoke cut under a stream gets what it missed once, in order, and reports recovered', async () => {
    const { hub, add, close, errors } = memoryTopology()
    const listener = add()
    const dispatcher = add()
    const got: number[] = []
    listener.spoke.addEventListener('tick', (event) => got.push(event.detail as number))
    await Promise.all([listener.spoke.ready, dispatcher.spoke.ready])
    await listener.spoke.flush()
    const dispatch = (from: number, to: number) => {
      for (let n = from; n <= to; n++) dispatcher.spoke.dispatchEvent(new CustomEvent('tick', { detail: n }))
    }
    dispatch(1, 20)
    await waitFor(() => got.length === 20, { message: 'the events before the cut' })
    hub.dispatchEvent(new CustomEvent('tick', { detail: 21 }))
    await waitFor(() => got.length === 21)
    listener.sever()
    await waitFor(() => listener.statuses.some((status) => status.type === 'disconnected'))
    dispatch(22, 40)
    await dispatcher.spoke.flush()
    await waitFor(() => reconnected(listener.statuses, 2), { message: 'reconnected' })
    dispatch(41, 60)
    await waitFor(() => got.at(-1) === 60, { message: 'the events after the cut' })
    await dispatcher.spoke.flush()
    await listener.spoke.flush()
    expect(got).toEqual(range(1, 60))
    expect(listener.statuses).toContainEqual({ type: 'recovered', eventType: 'tick', count: 19 })
    // Every type it listens to was recovered: no connection-level gap.
    expect(listener.statuses.filter((status) => status.type === 'gap')).toEqual([])
    expect(errors.filter((error) => error.code !== 'ERR_CONNECTION')).toEqual([])
    await close()
  })

  it('never replays a spoke its own events, skips events sent to it alone, and reports a gap for types without history', async () => {
    const { hub, add, close } = memoryTopology()
    const spoke = add()
    const got: unknown[] = []
    const plain: unknown[] = []
    spoke.spoke.addEventListener('tick', (event) => got.push(event.detail))
    spoke.spoke.addEventListener('plain', (event) => plain.push(event.detail))
    await spoke.spoke.ready
    await spoke.spoke.flush()
    hub.dispatchEvent(new CustomEvent('tick', { detail: 'h1' }))
    spoke.spoke.dispatchEvent(new CustomEvent('tick', { detail: 'own1' }))
    await waitFor(() => got.length === 2)
    const connection = (await waitFor(() => hub.connectionTarget('1')))!
    // To this spoke alone: outside the history, and no offset of its own.
    connection.dispatchEvent(new CustomEvent('tick', { detail: 'private' }))
    hub.dispatchEvent(new CustomEvent('tick', { detail: 'h2' }))
    await waitFor(() => got.length === 4)
    spoke.sever()
    await waitFor(() => spoke.statuses.some((status) => status.type === 'disconnected'))
    // While it is away: its own offline event, and the hub's.
    spoke.spoke.dispatchEvent(new CustomEvent('tick', { detail: 'own2' }))
    hub.dispatchEvent(new CustomEvent('tick', { detail: 'h3' }))
    hub.dispatchEvent(new CustomEvent('plain', { detail: 'lost' }))
    await waitFor(() => reconnected(spoke.statuses, 2))
    hub.dispatchEvent(new CustomEvent('tick', { detail: 'h4' }))
    hub.dispatchEvent(new CustomEvent('plain', { detail: 'live' }))
    await waitFor(() => got.at(-1) === 'h4' && plain.length === 1)
    await spoke.spoke.flush()
    // Its own events reach its listeners at once, the hub's a hop later.
    expect(got).toEqual(['own1', 'h1', 'private', 'h2', 'own2', 'h3', 'h4'])
    expect(plain).toEqual(['live'])
    expect(spoke.statuses).toContainEqual({ type: 'recovered', eventType: 'tick', count: 1 })
    // `plain` has no history: the connection-level gap, as before.
    expect(spoke.statuses.filter((status) => status.type === 'gap')).toEqual([
      { type: 'gap', since: expect.any(Number), until: expect.any(Number) },
    ])
    await close()
  })

  it('reports a gap per type with the reason when the history cannot give what was missed', async () => {
    let current = new MemoryHistory({ maxEvents: 5 })
    // A store that can be swapped, as a restarted hub's history would be.
    const store: HistoryStore = {
      append: (type, record) => current.append(type, record),
      since: (type, epoch, offset, options) => current.since(type, epoch, offset, options),
      latest: (type) => current.latest(type),
    }
    const { hub, add, close } = memoryTopology({ history: { types: ['tick', 'tock'], store } })
    const spoke = add()
    const got: string[] = []
    for (const type of ['tick', 'tock']) {
      spoke.spoke.addEventListener(type, (event) => got.push(`${type}${event.detail}`))
    }
    await spoke.spoke.ready
    await spoke.spoke.flush()
    hub.dispatchEvent(new CustomEvent('tick', { detail: 0 }))
    hub.dispatchEvent(new CustomEvent('tock', { detail: 0 }))
    await waitFor(() => got.length === 2)
    spoke.sever()
    await waitFor(() => spoke.statuses.some((status) => status.type === 'disconnected'))
    // Ten missed, five kept: too old.
    for (let n = 1; n <= 10; n++) hub.dispatchEvent(new CustomEvent('tick', { detail: n }))
    await waitFor(() => reconnected(spoke.statuses, 2))
    hub.dispatchEvent(new CustomEvent('tick', { detail: 11 }))
    await waitFor(() => got.at(-1) === 'tick11')
    expect(spoke.statuses).toContainEqual(
      expect.objectContaining({ type: 'gap', eventType: 'tick', reason: 'too-old' }),
    )
    expect(spoke.statuses).toContainEqual({ type: 'recovered', eventType: 'tock', count: 0 })
    expect(got).toEqual(['tick0', 'tock0', 'tick11'])

    // The history restarts: another epoch.
    spoke.sever()
    await waitFor(() => spoke.statuses.filter((status) => status.type === 'disconnected').length === 2)
    current = new MemoryHistory()
    hub.dispatchEvent(new CustomEvent('tick', { detail: 12 }))
    await waitFor(() => reconnected(spoke.statuses, 3))
    hub.dispatchEvent(new CustomEvent('tick', { detail: 13 }))
    await waitFor(() => got.at(-1) === 'tick13')
    expect(spoke.statuses.filter((status) => status.type === 'gap' && status.reason === 'epoch')).toEqual([
      expect.objectContaining({ eventType: 'tick' }),
      expect.objectContaining({ eventType: 'tock' }),
    ])
    expect(got).toEqual(['tick0', 'tock0', 'tick11', 'tick13'])
    await close()
  })

  it('a spoke of a hub without history subscribes as before and reports the connection-level gap', async () => {
    const hub = new Hub({})
    const connector = createMemoryConnector(hub)
    const statuses: EventwireStatus[] = []
    const sent: string[] = []
    const spoke = new Spoke({
      connect: (handlers, signal) => {
        const link = connector.connect(handlers, signal) as Link
        const send = (data: string) => {
          sent.push(data)
          link.send(data)
        }
        return { ...link, send }
      },
      heartbeatIntervalMs: 0,
      reconnect: fast,
      onStatus: (status) => statuses.push(status),
      onError: () => {},
    })
    const got: unknown[] = []
    spoke.addEventListener('tick', (event) => got.push(event.detail))
    await spoke.ready
    hub.dispatchEvent(new CustomEvent('tick', { detail: 1 }))
    await waitFor(() => got.length === 1)
    connector.sever()
    await waitFor(() => reconnected(statuses, 2))
    expect(statuses.filter((status) => status.type === 'gap')).toHaveLength(1)
    expect(sent.join('')).not.toContain('[11,')
    await spoke.close()
    await hub.close()
  })

  it('a spoke with positions that reconnects to a hub without history subscribes plainly and reports the gap', async () => {
    const withHistory = new Hub({ history: { types: ['tick'] } })
    const without = new Hub({})
    let current = createMemoryConnector(withHistory)
    const statuses: EventwireStatus[] = []
    const spoke = new Spoke({
      connect: (handlers, signal) => current.connect(handlers, signal),
      heartbeatIntervalMs: 0,
      reconnect: fast,
      onStatus: (status) => statuses.push(status),
      onError: () => {},
    })
    const got: unknown[] = []
    spoke.addEventListener('tick', (event) => got.push(event.detail))
    await spoke.ready
    withHistory.dispatchEvent(new CustomEvent('tick', { detail: 1 }))
    await waitFor(() => got.length === 1)
    const old = current
    current = createMemoryConnector(without)
    old.sever()
    await waitFor(() => reconnected(statuses, 2))
    await without.whenSubscribed('tick')
    without.dispatchEvent(new CustomEvent('tick', { detail: 2 }))
    await waitFor(() => got.length === 2)
    expect(got).toEqual([1, 2])
    expect(statuses.filter((status) => status.type === 'recovered')).toEqual([])
    expect(statuses.filter((status) => status.type === 'gap')).toEqual([
      { type: 'gap', since: expect.any(Number), until: expect.any(Number) },
    ])
    await spoke.close()
    await Promise.all([withHistory.close(), without.close()])
  })

  it('a store that answers with promises is reported once, and its events go out without positions', async () => {
    const memory = new MemoryHistory()
    const store: HistoryStore = {
      append: async (type, record) => memory.append(type, record),
      since: async (type, epoch, offset) => memory.since(type, epoch, offset),
      latest: async (type) => memory.latest(type),
    }
    const { hub, add, close, errors } = memoryTopology({ history: { types: ['tick'], store } })
    const spoke = add()
    const got: unknown[] = []
    spoke.spoke.addEventListener('tick', (event) => got.push(event.detail))
    await spoke.spoke.ready
    await spoke.spoke.flush()
    for (const n of [1, 2, 3]) hub.dispatchEvent(new CustomEvent('tick', { detail: n }))
    await waitFor(() => got.length === 3)
    expect(errors.map((error) => error.code)).toEqual(['ERR_INVALID_OPTION'])
    spoke.sever()
    await waitFor(() => reconnected(spoke.statuses, 2))
    // Nothing was certain: a plain sub and the connection-level gap, never a false `recovered`.
    expect(spoke.statuses.filter((status) => status.type === 'recovered')).toEqual([])
    expect(spoke.statuses.filter((status) => status.type === 'gap')).toHaveLength(1)
    await close()
  })

  it('a spoke whose hub link overflows is closed, reconnects and recovers everything once, in order', async () => {
    const { hub, add, close } = memoryTopology({ maxBufferedBytes: 8_192 })
    const stall = stallableConnector(hub)
    const slow = add(stall.connect)
    const got: number[] = []
    slow.spoke.addEventListener('tick', (event) => got.push(event.detail as number))
    await slow.spoke.ready
    await slow.spoke.flush()
    for (let n = 1; n <= 10; n++) hub.dispatchEvent(new CustomEvent('tick', { detail: n }))
    await waitFor(() => got.length === 10)
    stall.stall()
    await hub.flush()
    for (let n = 11; n <= 400; n++) hub.dispatchEvent(new CustomEvent('tick', { detail: n }))
    await waitFor(() => reconnected(slow.statuses, 2), { message: 'closed for overflow and back' })
    for (let n = 401; n <= 410; n++) hub.dispatchEvent(new CustomEvent('tick', { detail: n }))
    await waitFor(() => got.at(-1) === 410)
    expect(got).toEqual(range(1, 410))
    expect(slow.statuses).toContainEqual(expect.objectContaining({ type: 'recovered', eventType: 'tick' }))
    await close()
  })

  it('a createPubSub subscription over a spoke continues across a reconnect with the missed events in order', async () => {
    const { hub, add, close } = memoryTopology({ history: { types: ['chat'] } })
    const spoke = add()
    type Topics = { chat: [text: string] }
    const pubsub = createPubSub<Topics>({ eventTarget: spoke.spoke as unknown as PubSubEventTarget<Topics> })
    const subscription = pubsub.subscribe('chat')
    await spoke.spoke.flush()
    const received: string[] = []
    const reading = (async () => {
      for await (const text of subscription) {
        received.push(text)
        if (received.length === 30) break
      }
    })()
    const publish = (from: number, to: number) => {
      for (let n = from; n <= to; n++) hub.dispatchEvent(new CustomEvent('chat', { detail: `m${n}` }))
    }
    publish(1, 10)
    await waitFor(() => received.length === 10)
    spoke.sever()
    await waitFor(() => spoke.statuses.some((status) => status.type === 'disconnected'))
    publish(11, 20)
    await waitFor(() => reconnected(spoke.statuses, 2))
    publish(21, 30)
    await reading
    expect(received).toEqual(range(1, 30).map((n) => `m${n}`))
    await close()
  })
})

/**
 * In-memory links to a hub whose hub side can stall: it then reports a full platform buffer and keeps
 * what it is given, as a socket whose reader stopped; a closed link loses what it held.
 */
function stallableConnector(hub: Hub<TypedEvent, string>) {
  let stalled = false
  const connect: SpokeConnector = (handlers) => {
    let isOpen = true
    stalled = false
    const shut = (info: LinkCloseInfo) => {
      if (!isOpen) return
      isOpen = false
      setImmediate(() => {
        connection.closed(info)
        handlers.closed(info)
      })
    }
    const connection = hub.accept({
      send: (data) => {
        if (isOpen && !stalled) setImmediate(() => isOpen && handlers.receive(data))
      },
      close: (code, reason) => shut({ code, reason }),
      bufferedBytes: () => (stalled ? 1_000_000 : 0),
    })
    return {
      send: (data) => {
        if (isOpen) setImmediate(() => isOpen && connection.receive(data))
      },
      close: (code, reason) => shut({ code, reason }),
    }
  }
  return { connect, stall: () => (stalled = true) }
}
