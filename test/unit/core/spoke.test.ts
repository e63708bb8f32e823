import { afterEach, describe, expect, it, vi } from 'vitest'
import type { EventwireError } from '../../../src/core/errors.js'
import { decodeFrames, encodeEvent, encodeHello, encodePong, type Frame } from '../../../src/core/frame.js'
import { Hub } from '../../../src/core/hub.js'
import { createMemoryConnector, createMemoryPair } from '../../../src/core/memory-link.js'
import { jsonSerializer } from '../../../src/core/serializer.js'
import { Spoke, type SpokeLinkHandlers, type SpokeOptions } from '../../../src/core/spoke.js'
import type { EventwireStatus } from '../../../src/core/types.js'
import { waitFor } from '../../../src/testing/index.js'

const open: Array<{ close(): Promise<void> }> = []
afterEach(async () => {
  await Promise.all(open.splice(0).map((target) => target.close()))
})

function track<T extends { close(): Promise<void> }>(target: T): T {
  open.push(target)
  return target
}

function spokeOf(connect: SpokeOptions['connect'], options: Partial<SpokeOptions> = {}) {
  const statuses: EventwireStatus[] = []
  const errors: EventwireError[] = []
  const spoke = track(
    new Spoke({
      connect,
      heartbeatIntervalMs: 0,
      reconnect: { initialDelayMs: 5, maxDelayMs: 20 },
      onStatus: (status) => statuses.push(status),
      onError: (error) => errors.push(error),
      ...options,
    }),
  )
  return { spoke, statuses, errors }
}

/** A hub played by the test: it sees the decoded frames and answers what it likes. */
function scriptedHub(answer: (frame: Frame, handlers: SpokeLinkHandlers) => void) {
  const received: Frame[] = []
  let dials = 0
  const connect: SpokeOptions['connect'] = (handlers) => {
    dials++
    return {
      send: (data) => {
        const result = decodeFrames(data)
        if (!result.ok) throw result.error
        for (const frame of result.frames) {
          received.push(frame)
          answer(frame, handlers)
        }
      },
      close: () => {},
    }
  }
  return { connect, received, dials: () => dials }
}

describe('Spoke', () => {
  it('becomes ready after the hub answered its handshake, and sends hello, subscriptions and a ping', async () => {
    const script = scriptedHub((frame, handlers) => {
      if (frame.kind === 'ping') queueMicrotask(() => handlers.receive(encodePong(frame.id)))
    })
    const { spoke, statuses } = spokeOf(script.connect)
    spoke.addEventListener('a', () => {})
    await spoke.ready
    expect(script.received.map((frame) => frame.kind)).toEqual(['hello', 'sub', 'ping'])
    expect(statuses.map((status) => status.type)).toEqual(['connecting', 'connected'])
    expect(spoke.stats()).toMatchObject({ connections: 1, subscriptions: 1 })
  })

  it('reconnects after the link is cut, resubscribes every live type, reports a gap and delivers again', async () => {
    const hub = track(new Hub())
    const connector = createMemoryConnector(hub)
    const { spoke, statuses } = spokeOf(connector.connect)
    const got: unknown[] = []
    spoke.addEventListener('news', (event) => got.push(event.detail))
    spoke.addEventListener('other', () => {})
    await spoke.ready
    connector.sever()
    await waitFor(() => statuses.some((status) => status.type === 'gap'), { timeoutMs: 2_000 })
    expect(hub.remoteTypes().sort()).toEqual(['news', 'other'])
    hub.dispatchEvent(new CustomEvent('news', { detail: 'after' }))
    await waitFor(() => got.length === 1, { timeoutMs: 2_000 })
    expect(got).toEqual(['after'])
    const types = statuses.map((status) => status.type)
    expect(types).toEqual([
      'connecting',
      'connected',
      'disconnected',
      'reconnecting',
      'connecting',
      'connected',
      'gap',
    ])
    const gap = statuses.find((status) => status.type === 'gap') as { since: number; until: number }
    expect(gap.until).toBeGreaterThanOrEqual(gap.since)
    expect(spoke.stats().reconnects).toBe(1)
  })

  it('keeps retrying with bounded delays while the hub is unreachable, and stops on close()', async () => {
    vi.useFakeTimers()
    try {
      let dials = 0
      const { spoke, statuses } = spokeOf(() => {
        dials++
        throw new Error('refused')
      })
      await vi.advanceTimersByTimeAsync(200)
      expect(dials).toBeGreaterThanOrEqual(8)
      const delays = statuses.flatMap((status) => (status.type === 'reconnecting' ? [status.delayMs] : []))
      expect(delays.every((delay) => delay >= 2 && delay <= 20)).toBe(true)
      expect(Math.max(...delays)).toBeGreaterThan(Math.min(...delays))
      await spoke.close()
      const dialsAtClose = dials
      await vi.advanceTimersByTimeAsync(10_000)
      expect(dials).toBe(dialsAtClose)
      await expect(spoke.ready).rejects.toMatchObject({ code: 'ERR_CLOSED' })
    } finally {
      vi.useRealTimers()
    }
  })

  it('declares a silent link dead after heartbeatTimeoutMs and replaces it', async () => {
    // This hub answers the handshake of the first link only, then goes silent.
    let answered = 0
    const script = scriptedHub((frame, handlers) => {
      if (frame.kind === 'ping' && answered++ === 0)
        queueMicrotask(() => handlers.receive(encodePong(frame.id)))
    })
    const { spoke, statuses, errors } = spokeOf(script.connect, {
      heartbeatIntervalMs: 10,
      heartbeatTimeoutMs: 40,
    })
    await spoke.ready
    await waitFor(() => script.dials() >= 2, { timeoutMs: 2_000 })
    // Reported once to onError too, however many times the link goes silent again.
    expect(errors.map((error) => error.code)).toEqual(['ERR_TIMEOUT'])
    const lost = statuses.find((status) => status.type === 'disconnected') as { error?: EventwireError }
    expect(lost.error?.code).toBe('ERR_TIMEOUT')
  })

  /** A spoke on a hub whose connections the test allows or refuses, and can sever. */
  function gatedSpoke(options: Partial<SpokeOptions> = {}) {
    const hub = track(new Hub())
    const connector = createMemoryConnector(hub)
    const gate = { allow: false }
    const made = spokeOf((handlers, signal) => {
      if (!gate.allow) throw new Error('not yet')
      return connector.connect(handlers, signal)
    }, options)
    const got: unknown[] = []
    hub.addEventListener('q', (event) => got.push(event.detail))
    /** Connects once, then cuts the link and keeps the spoke from coming back. */
    const connectThenLose = async () => {
      gate.allow = true
      await made.spoke.ready
      gate.allow = false
      connector.sever()
      await waitFor(() => made.spoke.stats().connections === 0, { timeoutMs: 2_000 })
    }
    return { ...made, gate, got, connectThenLose }
  }

  it('keeps what is dispatched before the first connection and sends it once connected, in order', async () => {
    const { spoke, gate, got, errors } = gatedSpoke()
    for (const n of [1, 2, 3]) spoke.dispatchEvent(new CustomEvent('q', { detail: n }))
    gate.allow = true
    await spoke.ready
    await waitFor(() => got.length === 3, { timeoutMs: 2_000 })
    expect(got).toEqual([1, 2, 3])
    expect(spoke.stats().dropped).toBe(0)
    // The failed attempts before it were reported once, not once per attempt.
    expect(errors.map((error) => error.message)).toEqual(['not yet'])
  })

  it('after a connection was lost, keeps events dispatched while offline by default and sends them once back', async () => {
    const { spoke, gate, got, connectThenLose } = gatedSpoke()
    await connectThenLose()
    for (const n of [1, 2, 3]) spoke.dispatchEvent(new CustomEvent('q', { detail: n }))
    expect(spoke.stats()).toMatchObject({ dispatched: 3, dropped: 0 })
    gate.allow = true
    await waitFor(() => got.length === 3, { timeoutMs: 2_000 })
    expect(got).toEqual([1, 2, 3])
  })

  it('with offlineQueueSize 0, after a connection was lost, drops events dispatched while offline and counts them', async () => {
    const { spoke, got, connectThenLose } = gatedSpoke({ offlineQueueSize: 0 })
    await connectThenLose()
    const local: unknown[] = []
    spoke.addEventListener('q', (event) => local.push(event.detail))
    spoke.dispatchEvent(new CustomEvent('q', { detail: 1 }))
    expect(local).toEqual([1])
    expect(spoke.stats()).toMatchObject({ dispatched: 1, dropped: 1, sent: 0 })
    expect(got).toEqual([])
  })

  it('after a connection was lost, sends the newest offlineQueueSize events once back, in order', async () => {
    const { spoke, gate, got, connectThenLose } = gatedSpoke({ offlineQueueSize: 2 })
    await connectThenLose()
    for (const n of [1, 2, 3]) spoke.dispatchEvent(new CustomEvent('q', { detail: n }))
    gate.allow = true
    await waitFor(() => got.length === 2, { timeoutMs: 2_000 })
    expect(got).toEqual([2, 3])
    expect(spoke.stats().dropped).toBe(1)
  })

  it('rejects ready with ERR_TIMEOUT naming the last failure after readyTimeoutMs, and keeps trying', async () => {
    const { spoke, gate, got, errors } = gatedSpoke({ readyTimeoutMs: 50 })
    await expect(spoke.ready).rejects.toMatchObject({
      code: 'ERR_TIMEOUT',
      message: expect.stringContaining('not yet'),
    })
    expect(errors.map((error) => error.code)).toContain('ERR_TIMEOUT')
    gate.allow = true
    spoke.dispatchEvent(new CustomEvent('q', { detail: 'late' }))
    await waitFor(() => got.length === 1, { timeoutMs: 2_000 })
  })

  it('flush() resolves once the hub has processed what was sent, even if called while offline', async () => {
    const hub = track(new Hub())
    const connector = createMemoryConnector(hub)
    const { spoke } = spokeOf(connector.connect)
    spoke.addEventListener('early', () => {})
    await spoke.flush()
    expect(hub.remoteTypes()).toEqual(['early'])
    spoke.addEventListener('late', () => {})
    await spoke.flush()
    expect(hub.remoteTypes().sort()).toEqual(['early', 'late'])
  })

  it('does not deliver an event carrying its own origin (echo guard)', async () => {
    let nodeId = ''
    const script = scriptedHub((frame, handlers) => {
      if (frame.kind === 'hello') nodeId = frame.nodeId
      if (frame.kind === 'ping') {
        queueMicrotask(() => {
          handlers.receive(encodeHello('hub', 'hub'))
          handlers.receive(encodeEvent('t', nodeId, 'echo', jsonSerializer))
          handlers.receive(encodeEvent('t', 'someone-else', 'real', jsonSerializer))
          handlers.receive(encodePong(frame.id))
        })
      }
    })
    const { spoke } = spokeOf(script.connect)
    const got: unknown[] = []
    spoke.addEventListener('t', (event) => got.push(event.detail))
    await spoke.ready
    expect(got).toEqual(['real'])
  })

  it('reports error frames and malformed frames from the hub without stopping', async () => {
    const script = scriptedHub((frame, handlers) => {
      if (frame.kind === 'ping') {
        queueMicrotask(() => {
          handlers.receive('[5,"ERR_UNAUTHORIZED","not allowed to subscribe \\"t\\"","t"]')
          handlers.receive('not json')
          handlers.receive(encodeEvent('t', 'hub', 'ok', jsonSerializer))
          handlers.receive(encodePong(frame.id))
        })
      }
    })
    const { spoke, errors } = spokeOf(script.connect)
    const got: unknown[] = []
    spoke.addEventListener('t', (event) => got.push(event.detail))
    await spoke.ready
    expect(got).toEqual(['ok'])
    expect(errors.map((error) => [error.code, error.eventType])).toEqual([
      ['ERR_UNAUTHORIZED', 't'],
      ['ERR_FRAME_MALFORMED', undefined],
    ])
    expect(spoke.stats().dropped).toBe(1)
  })

  it('throws ERR_SERIALIZE from dispatchEvent and delivers nothing, locally or remotely', () => {
    const { spoke } = spokeOf(() => new Promise(() => {}))
    let local = 0
    spoke.addEventListener('t', () => local++)
    expect(() => spoke.dispatchEvent(new CustomEvent('t', { detail: { n: 1n } }))).toThrow(
      expect.objectContaining({ code: 'ERR_SERIALIZE' }),
    )
    expect(local).toBe(0)
  })

  it('refuses event types the wire cannot carry, naming the limit', () => {
    const { spoke } = spokeOf(() => new Promise(() => {}), { limits: { maxTypeLength: 8 } })
    expect(() => spoke.addEventListener('', () => {})).toThrow(/1 to 8 characters/)
    expect(() => spoke.dispatchEvent(new CustomEvent('way-too-long-type'))).toThrow(/1 to 8 characters/)
  })

  it('close() stops everything, rejects pending flushes and closes the hub side', async () => {
    const hub = track(new Hub())
    const connector = createMemoryConnector(hub)
    const { spoke, statuses } = spokeOf(connector.connect)
    await spoke.ready
    await spoke.close()
    await spoke.close()
    await expect(spoke.flush()).rejects.toMatchObject({ code: 'ERR_CLOSED' })
    await waitFor(() => hub.stats().connections === 0, { timeoutMs: 2_000 })
    expect(statuses.at(-1)).toEqual({ type: 'closed' })
    expect(connector.openLinks).toBe(0)
  })

  it('with reconnect: false, closes for good when the link is lost', async () => {
    const hub = track(new Hub())
    const connector = createMemoryConnector(hub)
    const { spoke, statuses } = spokeOf(connector.connect, { reconnect: false })
    await spoke.ready
    connector.sever()
    await waitFor(() => statuses.at(-1)?.type === 'closed', { timeoutMs: 2_000 })
    expect(statuses.map((status) => status.type)).toEqual([
      'connecting',
      'connected',
      'disconnected',
      'closed',
    ])
  })

  it('as a peer, sends the other peer only the types it subscribed to', async () => {
    const pair = createMemoryPair()
    const a = spokeOf(pair.a, { peer: true, reconnect: false }).spoke
    const b = spokeOf(pair.b, { peer: true, reconnect: false }).spoke
    await Promise.all([a.ready, b.ready])
    a.dispatchEvent(new CustomEvent('unwanted', { detail: 1 }))
    expect(a.stats().sent).toBe(0)
    const got: unknown[] = []
    b.addEventListener('wanted', (event) => got.push(event.detail))
    await b.flush()
    a.dispatchEvent(new CustomEvent('wanted', { detail: 2 }))
    a.dispatchEvent(new CustomEvent('unwanted', { detail: 3 }))
    await waitFor(() => got.length === 1, { timeoutMs: 2_000 })
    expect(got).toEqual([2])
    expect(a.stats()).toMatchObject({ dispatched: 3, sent: 1, dropped: 0 })
  })

  it('as a peer talking to a hub, sends every event for the hub to route', async () => {
    const hub = track(new Hub())
    const connector = createMemoryConnector(hub)
    const { spoke } = spokeOf(connector.connect, { peer: true })
    const got: unknown[] = []
    hub.addEventListener('t', (event) => got.push(event.detail))
    await spoke.ready
    spoke.dispatchEvent(new CustomEvent('t', { detail: 'routed' }))
    await waitFor(() => got.length === 1, { timeoutMs: 2_000 })
    expect(got).toEqual(['routed'])
  })
})

describe('Spoke: start', () => {
  it('with start: false, dials only once start() is called, once, and never after close()', async () => {
    const hub = new Hub()
    const connector = createMemoryConnector(hub)
    let dials = 0
    const spoke = new Spoke({
      connect: (handlers, signal) => {
        dials++
        return connector.connect(handlers, signal)
      },
      heartbeatIntervalMs: 0,
      start: false,
    })
    await new Promise((resolve) => setImmediate(resolve))
    expect(dials).toBe(0)
    spoke.start()
    spoke.start()
    await spoke.ready
    expect(dials).toBe(1)
    await spoke.close()
    spoke.start()
    expect(dials).toBe(1)
    const closedFirst = new Spoke({ connect: connector.connect, start: false })
    await closedFirst.close()
    closedFirst.start()
    expect(dials).toBe(1)
    await hub.close()
  })
})
