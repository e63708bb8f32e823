import { describe, expect, it } from 'vitest'
import { type CloneFrame, createCloneCodec } from '../../../src/core/codec.js'
import { EventwireError } from '../../../src/core/errors.js'
import {
  decodeFrames,
  encodeBatch,
  encodeBye,
  encodeEvent,
  encodeHello,
  encodePing,
  encodeSub,
  encodeUnsub,
  type Frame,
} from '../../../src/core/frame.js'
import { Hub, type HubOptions } from '../../../src/core/hub.js'
import type { Link, LinkCloseInfo } from '../../../src/core/link.js'
import { jsonSerializer } from '../../../src/core/serializer.js'
import type { Serializer, TypedEvent } from '../../../src/core/types.js'
import { waitFor } from '../../../src/testing/index.js'

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
  events(): unknown[] {
    return this.frames()
      .filter((frame) => frame.kind === 'event')
      .map((frame) => (frame as { detail: unknown }).detail)
  }
}

const nextTask = () => new Promise((resolve) => setTimeout(resolve, 0))

function setup(options: HubOptions = {}) {
  const errors: EventwireError[] = []
  const disconnections: LinkCloseInfo[] = []
  const hub = new Hub({
    onError: (error) => errors.push(error),
    onDisconnection: (_info, close) => disconnections.push(close),
    ...options,
  })
  const connect = (nodeId: string, principal?: unknown) => {
    const link = new RecordingLink()
    const connection = hub.accept(link, { principal })
    connection.receive(encodeHello(nodeId, 'spoke'))
    return { link, connection }
  }
  return { hub, errors, disconnections, connect }
}

describe('Hub', () => {
  it('answers hello, routes events only to subscribed links, and never back to the origin', async () => {
    const { hub, connect } = setup()
    const a = connect('a')
    const b = connect('b')
    const c = connect('c')
    a.connection.receive(encodeSub('news'))
    b.connection.receive(encodeSub('news'))
    a.connection.receive(encodeEvent('news', 'a', 1, jsonSerializer))
    await nextTask()
    expect(a.link.frames()[0]).toMatchObject({ kind: 'hello', nodeId: hub.nodeId })
    expect(a.link.events()).toEqual([])
    expect(b.link.events()).toEqual([1])
    expect(c.link.events()).toEqual([])
    b.connection.receive(encodeUnsub('news'))
    hub.dispatchEvent(new CustomEvent('news', { detail: 2 }))
    await nextTask()
    expect(a.link.events()).toEqual([2])
    expect(b.link.events()).toEqual([1])
    expect(hub.remoteTypes()).toEqual(['news'])
  })

  it('sets the origin of a relayed event from the link it came on, whatever the frame says (every hub transport)', async () => {
    const { connect } = setup()
    const victim = connect('victim')
    const observer = connect('observer')
    const forger = connect('forger')
    victim.connection.receive(encodeSub('news'))
    observer.connection.receive(encodeSub('news'))
    forger.connection.receive(encodeEvent('news', 'victim', 1, jsonSerializer))
    forger.connection.receive(encodeEvent('news', 'observer', 2, jsonSerializer))
    victim.connection.receive(encodeEvent('news', 'victim', 3, jsonSerializer))
    await nextTask()
    // The forged origin hides nothing from the node it names...
    expect(victim.link.events()).toEqual([1, 2])
    expect(observer.link.events()).toEqual([1, 2, 3])
    // ...and passes nothing off as that node's: each link's events carry one origin of the hub's choosing.
    const origins = (link: RecordingLink) =>
      link.frames().flatMap((frame) => (frame.kind === 'event' ? [frame.origin] : []))
    const [fromForger, again, fromVictim] = origins(observer.link)
    expect(again).toBe(fromForger)
    expect(origins(victim.link)).toEqual([fromForger, fromForger])
    expect(fromForger).not.toBe('victim')
    expect(fromVictim).not.toBe(fromForger)
    expect(new Set([fromForger, fromVictim, 'victim', 'observer', 'forger']).size).toBe(5)
  })

  it('delivers spoke events to its own listeners as CustomEvents', async () => {
    const { hub, connect } = setup()
    const got: unknown[] = []
    hub.addEventListener('chat', (event) => got.push([event.type, event.detail]))
    connect('a').connection.receive(encodeEvent('chat', 'a', { text: 'hi' }, jsonSerializer))
    expect(got).toEqual([['chat', { text: 'hi' }]])
    expect(hub.stats()).toMatchObject({ received: 1, delivered: 1, connections: 1 })
  })

  it('encodes a dispatched event once for any number of links', async () => {
    let stringifies = 0
    const serializer: Serializer = {
      stringify: (value) => {
        stringifies++
        return JSON.stringify(value)
      },
      parse: (text) => JSON.parse(text),
    }
    const { hub, connect } = setup({ serializer })
    const links = ['a', 'b', 'c', 'd'].map((id) => connect(id))
    for (const { connection } of links) connection.receive(encodeSub('fan'))
    hub.dispatchEvent(new CustomEvent('fan', { detail: 'x' }))
    links[0]!.connection.receive(encodeEvent('fan', 'a', JSON.stringify('y'), jsonSerializer))
    expect(stringifies).toBe(2)
    await nextTask()
    expect(links.map(({ link }) => link.events().length)).toEqual([1, 2, 2, 2])
  })

  it('batches everything written to a link in one tick into one message, and sends a lone frame in the same task', async () => {
    const { hub, connect } = setup()
    const { link, connection } = connect('a')
    connection.receive(encodeSub('t'))
    await nextTask()
    link.sent = []
    for (let n = 0; n < 100; n++) hub.dispatchEvent(new CustomEvent('t', { detail: n }))
    await Promise.resolve()
    expect(link.sent).toHaveLength(1)
    expect(link.events()).toEqual(Array.from({ length: 100 }, (_, n) => n))
    link.sent = []
    hub.dispatchEvent(new CustomEvent('t', { detail: 'alone' }))
    await Promise.resolve()
    expect(link.sent).toEqual([encodeEvent('t', hub.nodeId, 'alone', jsonSerializer)])
  })

  it('refuses unauthorized subscribe and publish with an error frame and delivers nothing', async () => {
    const { hub, connect, errors } = setup({
      authorize: ({ type, action, principal }) =>
        principal === 'admin' || (type === 'public' && action === 'subscribe'),
    })
    const got: unknown[] = []
    hub.addEventListener('secret', (event) => got.push(event.detail))
    const guest = connect('guest', 'guest')
    const admin = connect('admin', 'admin')
    admin.connection.receive(encodeSub('secret'))
    guest.connection.receive(encodeSub('secret'))
    guest.connection.receive(encodeSub('public'))
    guest.connection.receive(encodeEvent('secret', 'guest', 'forged', jsonSerializer))
    hub.dispatchEvent(new CustomEvent('secret', { detail: 'classified' }))
    await nextTask()
    expect(got).toEqual(['classified'])
    expect(guest.link.events()).toEqual([])
    expect(admin.link.events()).toEqual(['classified'])
    const refusals = guest.link.frames().filter((frame) => frame.kind === 'error')
    expect(refusals).toEqual([
      {
        kind: 'error',
        code: 'ERR_UNAUTHORIZED',
        message: 'not allowed to subscribe "secret"',
        eventType: 'secret',
      },
      {
        kind: 'error',
        code: 'ERR_UNAUTHORIZED',
        message: 'not allowed to publish "secret"',
        eventType: 'secret',
      },
    ])
    expect(errors.map((error) => error.code)).toEqual(['ERR_UNAUTHORIZED', 'ERR_UNAUTHORIZED'])
    expect(hub.remoteTypes().sort()).toEqual(['public', 'secret'])
    expect(guest.link.closedWith).toBeUndefined()
  })

  it('keeps frame order behind an asynchronous authorize and asks once per type and action', async () => {
    const asked: string[] = []
    const { hub, connect } = setup({
      authorize: async ({ type, action }) => {
        asked.push(`${action}:${type}`)
        await nextTask()
        return type !== 'denied'
      },
    })
    const got: unknown[] = []
    hub.addEventListener('t', (event) => got.push(event.detail))
    const { connection } = connect('a')
    connection.receive(encodeEvent('t', 'a', 1, jsonSerializer))
    connection.receive(encodeEvent('denied', 'a', 'x', jsonSerializer))
    connection.receive(
      encodeBatch([encodeEvent('t', 'a', 2, jsonSerializer), encodeEvent('t', 'a', 3, jsonSerializer)]),
    )
    await waitFor(() => got.length === 3, { timeoutMs: 2_000 })
    expect(got).toEqual([1, 2, 3])
    expect(asked).toEqual(['publish:t', 'publish:denied'])
  })

  it('reports a malformed frame, counts it, answers with an error frame and keeps the link', async () => {
    const { hub, connect, errors } = setup()
    const got: unknown[] = []
    hub.addEventListener('t', (event) => got.push(event.detail))
    const { link, connection } = connect('a')
    for (const garbage of ['nope', '[1,"t"', '{"kind":"event"}', '[1,"","a",1]', '[42]'])
      connection.receive(garbage)
    connection.receive(encodeEvent('t', 'a', 'fine', jsonSerializer))
    await nextTask()
    expect(got).toEqual(['fine'])
    expect(errors.map((error) => error.code)).toEqual(Array(5).fill('ERR_FRAME_MALFORMED'))
    expect(hub.stats().dropped).toBe(5)
    expect(link.frames().filter((frame) => frame.kind === 'error')).toHaveLength(5)
    expect(link.closedWith).toBeUndefined()
  })

  it('closes a link that sends an oversized frame (1009), a non-hello first frame or another version (1002)', async () => {
    const { hub, disconnections } = setup({ limits: { maxFrameBytes: 1_000 } })
    const big = new RecordingLink()
    const bigConnection = hub.accept(big)
    bigConnection.receive(encodeHello('big', 'spoke'))
    bigConnection.receive(encodeEvent('t', 'big', 'x'.repeat(2_000), jsonSerializer))
    expect(big.closedWith).toEqual({ code: 1009, reason: 'ERR_FRAME_TOO_LARGE' })

    const rude = new RecordingLink()
    hub.accept(rude).receive(encodeSub('t'))
    expect(rude.closedWith).toEqual({ code: 1002, reason: 'ERR_FRAME_MALFORMED' })

    const future = new RecordingLink()
    hub.accept(future).receive('[0,99,"future"]')
    expect(future.closedWith).toEqual({ code: 1002, reason: 'ERR_PROTOCOL_VERSION' })
    // The error, then a bye: a link with no close signal of its own (a MessagePort) learns it is closed.
    expect(future.frames()).toEqual([
      expect.objectContaining({ kind: 'error', code: 'ERR_PROTOCOL_VERSION' }),
      { kind: 'bye', code: 1002, reason: 'ERR_PROTOCOL_VERSION' },
    ])
    expect(disconnections).toHaveLength(3)
    expect(hub.stats().connections).toBe(0)
  })

  it('answers pings with pongs in order', async () => {
    const { connect } = setup()
    const { link, connection } = connect('a')
    connection.receive(encodeBatch([encodePing(1), encodePing(2)]))
    await nextTask()
    expect(link.frames().filter((frame) => frame.kind === 'pong')).toEqual([
      { kind: 'pong', id: 1 },
      { kind: 'pong', id: 2 },
    ])
  })

  describe('a slow link', () => {
    function slowSetup(overflow: HubOptions['overflow']) {
      const context = setup({ maxBufferedBytes: 10_000, overflow })
      const slow = context.connect('slow')
      const fast = context.connect('fast')
      slow.connection.receive(encodeSub('t'))
      fast.connection.receive(encodeSub('t'))
      // The platform buffer of the slow link is past the high-water mark (half the bound): our queue
      // holds its frames, within what is left of the bound.
      slow.link.buffered = 6_000
      return { ...context, slow, fast }
    }
    const detail = (n: number) => ({ n, pad: 'x'.repeat(90) })

    it('drop-oldest keeps the newest events within the bound and counts the rest', async () => {
      const { hub, slow, fast, errors } = slowSetup('drop-oldest')
      await nextTask()
      slow.link.sent = []
      for (let n = 0; n < 1_000; n++) hub.dispatchEvent(new CustomEvent('t', { detail: detail(n) }))
      await nextTask()
      expect(fast.link.events()).toHaveLength(1_000)
      expect(slow.link.sent).toEqual([])
      slow.link.buffered = 0
      slow.connection.drained()
      const received = slow.link.events() as Array<{ n: number }>
      // The queue keeps between 15/16 and all of its bound (room is made a sixteenth at a time).
      expect(received.length).toBeGreaterThan(5)
      expect(received.length).toBeLessThan(1_000)
      expect(received.at(-1)!.n).toBe(999)
      expect(received.map((d) => d.n)).toEqual(received.map((d) => d.n).sort((x, y) => x - y))
      expect(hub.stats().dropped).toBe(1_000 - received.length)
      expect(errors).toEqual([])
    })

    it('drop-newest keeps the oldest events within the bound', async () => {
      const { hub, slow } = slowSetup('drop-newest')
      await nextTask()
      slow.link.sent = []
      for (let n = 0; n < 1_000; n++) hub.dispatchEvent(new CustomEvent('t', { detail: detail(n) }))
      slow.link.buffered = 0
      slow.connection.drained()
      const received = slow.link.events() as Array<{ n: number }>
      expect(received[0]!.n).toBe(0)
      expect(received.map((d) => d.n)).toEqual(Array.from({ length: received.length }, (_, n) => n))
      expect(hub.stats().dropped).toBe(1_000 - received.length)
    })

    it('close ends the slow link with 1013 and ERR_OVERFLOW while the others keep receiving', async () => {
      const { hub, slow, fast, errors, disconnections } = slowSetup('close')
      for (let n = 0; n < 1_000; n++) hub.dispatchEvent(new CustomEvent('t', { detail: detail(n) }))
      await nextTask()
      expect(slow.link.closedWith).toEqual({ code: 1013, reason: 'overflow' })
      expect(errors.map((error) => error.code)).toEqual(['ERR_OVERFLOW'])
      expect(disconnections).toEqual([expect.objectContaining({ code: 1013 })])
      expect(fast.link.events()).toHaveLength(1_000)
      expect(hub.stats().connections).toBe(1)
    })
  })

  it('close() says bye and closes every link with 1001, forgets interest and ignores new links', async () => {
    const { hub, connect } = setup()
    const a = connect('a')
    a.connection.receive(encodeSub('t'))
    hub.dispatchEvent(new CustomEvent('t', { detail: 'last' }))
    await hub.close()
    expect(a.link.closedWith).toEqual({ code: 1001, reason: 'hub closed' })
    // The event queued before close() leaves first, then the bye.
    expect(a.link.frames().slice(-2)).toEqual([
      { kind: 'event', type: 't', origin: hub.nodeId, detail: 'last', hops: 0 },
      { kind: 'bye', code: 1001, reason: 'hub closed' },
    ])
    expect(hub.remoteTypes()).toEqual([])
    const late = new RecordingLink()
    hub.accept(late)
    expect(late.closedWith?.code).toBe(1001)
    await hub.close()
  })

  it('a bye from a spoke drops its interest at once, reports the code it gave and closes its link normally', async () => {
    const { hub, connect, disconnections, errors } = setup()
    const leaving = connect('leaving')
    const staying = connect('staying')
    const heard: unknown[] = []
    hub.addEventListener('t', (event) => heard.push(event.detail))
    leaving.connection.receive(encodeSub('t'))
    staying.connection.receive(encodeSub('t'))
    leaving.connection.receive(
      encodeBatch([encodeEvent('t', 'leaving', 'last words', jsonSerializer), encodeBye(1001, 'going away')]),
    )
    expect(heard).toEqual(['last words'])
    expect(leaving.link.closedWith).toEqual({ code: 1000, reason: 'bye' })
    expect(disconnections).toEqual([{ code: 1001, reason: 'going away' }])
    expect(hub.stats().connections).toBe(1)
    hub.dispatchEvent(new CustomEvent('t', { detail: 'after' }))
    await nextTask()
    expect(leaving.link.events()).toEqual([])
    expect(staying.link.events()).toEqual(['last words', 'after'])
    // The link is gone: anything the platform still delivers is ignored.
    leaving.connection.receive(encodeEvent('t', 'leaving', 'too late', jsonSerializer))
    expect(heard).toEqual(['last words', 'after'])
    expect(errors).toEqual([])
  })

  it('sends runs on a clone link only to a spoke whose hello lists the run feature', async () => {
    const hub = new Hub<TypedEvent, CloneFrame>({ codec: createCloneCodec() })
    const open = (features?: string[]) => {
      const sent: unknown[] = []
      const connection = hub.accept({ send: (message) => sent.push(message), close: () => {} })
      connection.receive(features ? [0, 1, 'spoke', 'spoke', features] : [0, 1, 'spoke', 'spoke'])
      connection.receive([2, 't'])
      return sent
    }
    const modern = open(['run'])
    const plain = open()
    await nextTask()
    expect(modern.at(-1)).toEqual([0, 1, hub.nodeId, 'hub', ['run']])
    modern.length = 0
    plain.length = 0
    for (const n of [1, 2, 3]) hub.dispatchEvent(new CustomEvent('t', { detail: n }))
    await nextTask()
    expect(modern).toEqual([[9, 't', hub.nodeId, 0, 1, 2, 3]])
    expect(plain).toEqual([[4, [1, 't', hub.nodeId, 1], [1, 't', hub.nodeId, 2], [1, 't', hub.nodeId, 3]]])
    await hub.close()
  })

  it('throws ERR_SERIALIZE from dispatchEvent and delivers nothing when a subscriber exists', async () => {
    const { hub, connect } = setup()
    connect('a').connection.receive(encodeSub('t'))
    let local = 0
    hub.addEventListener('t', () => local++)
    expect(() => hub.dispatchEvent(new CustomEvent('t', { detail: 1n }))).toThrow(EventwireError)
    expect(local).toBe(0)
  })

  it('rejects invalid options naming them', () => {
    expect(() => new Hub({ maxBufferedBytes: -1 })).toThrow(/maxBufferedBytes/)
    expect(() => new Hub({ overflow: 'explode' as never })).toThrow(/overflow/)
    expect(() => new Hub({ serializer: {} as never })).toThrow(/serializer/)
    expect(() => new Hub({ limits: { maxFrameBytes: 0 } })).toThrow(/limits.maxFrameBytes/)
    expect(() => new Hub({ authorize: 'yes' as never })).toThrow(/authorize/)
  })

  it('gives each connection a target: dispatch reaches that spoke alone, listeners hear only it', async () => {
    const { hub, connect } = setup()
    const ids: string[] = []
    const a = connect('a')
    const b = connect('b')
    for (const { connection } of [a, b]) {
      ids.push(connection.info.id)
      connection.receive(encodeSub('private'))
    }
    const fromA: unknown[] = []
    hub.connectionTarget(ids[0]!)!.addEventListener('said', (event) => fromA.push(event.detail))
    hub.connectionTarget(ids[0]!)!.dispatchEvent(new CustomEvent('private', { detail: 'only a' }))
    a.connection.receive(encodeEvent('said', 'a', 'from a', jsonSerializer))
    b.connection.receive(encodeEvent('said', 'b', 'from b', jsonSerializer))
    await nextTask()
    expect(a.link.events()).toEqual(['only a'])
    expect(b.link.events()).toEqual([])
    expect(fromA).toEqual(['from a'])
    a.connection.closed({ code: 1000 })
    expect(hub.connectionTarget(ids[0]!)).toBeUndefined()
  })

  it('closes a link that sends nothing for idleTimeoutMs with 4000 and ERR_TIMEOUT', async () => {
    const { hub, connect, errors, disconnections } = setup({ idleTimeoutMs: 40 })
    const quiet = connect('quiet')
    const chatty = connect('chatty')
    const pinging = setInterval(() => chatty.connection.receive(encodePing(1)), 5)
    try {
      await waitFor(() => quiet.link.closedWith !== undefined, { timeoutMs: 2_000 })
      expect(quiet.link.closedWith).toEqual({ code: 4000, reason: 'idle timeout' })
      expect(chatty.link.closedWith).toBeUndefined()
      expect(errors.map((error) => error.code)).toEqual(['ERR_TIMEOUT'])
      expect(disconnections).toEqual([expect.objectContaining({ code: 4000 })])
      expect(hub.stats().connections).toBe(1)
    } finally {
      clearInterval(pinging)
      await hub.close()
    }
  })

  describe('limits', () => {
    it('closes links beyond maxConnections with 1013 and ERR_LIMIT, others unaffected', async () => {
      const { hub, connect, errors } = setup({ maxConnections: 2 })
      const a = connect('a')
      connect('b')
      const extra = connect('c')
      expect(extra.link.closedWith).toEqual({ code: 1013, reason: 'too many connections' })
      expect(errors.map((error) => error.code)).toEqual(['ERR_LIMIT'])
      expect(hub.stats().connections).toBe(2)
      a.connection.receive(encodeSub('t'))
      hub.dispatchEvent(new CustomEvent('t', { detail: 1 }))
      await nextTask()
      expect(a.link.events()).toEqual([1])
    })

    it('refuses subscriptions beyond maxSubscriptionsPerConnection with an error frame', async () => {
      const { hub, connect } = setup({ maxSubscriptionsPerConnection: 2 })
      const { link, connection } = connect('a')
      for (const type of ['x', 'y', 'z']) connection.receive(encodeSub(type))
      await nextTask()
      expect(hub.remoteTypes().sort()).toEqual(['x', 'y'])
      expect(link.frames().filter((frame) => frame.kind === 'error')).toEqual([
        expect.objectContaining({ code: 'ERR_LIMIT', eventType: 'z' }),
      ])
      expect(link.closedWith).toBeUndefined()
    })

    it('drops publishes over maxPublishRatePerConnection, counts them and says so once', async () => {
      const { hub, connect } = setup({ maxPublishRatePerConnection: 10 })
      const got: unknown[] = []
      hub.addEventListener('t', (event) => got.push(event.detail))
      const { link, connection } = connect('a')
      const other = connect('b')
      for (let n = 0; n < 25; n++) connection.receive(encodeEvent('t', 'a', n, jsonSerializer))
      other.connection.receive(encodeEvent('t', 'b', 'other link', jsonSerializer))
      await nextTask()
      expect(got).toEqual([...Array.from({ length: 10 }, (_, n) => n), 'other link'])
      expect(hub.stats().dropped).toBe(15)
      expect(link.frames().filter((frame) => frame.kind === 'error')).toHaveLength(1)
    })

    it('closes a link that sends no hello within handshakeTimeoutMs with 1008', async () => {
      const { hub, disconnections } = setup({ handshakeTimeoutMs: 30 })
      const silent = new RecordingLink()
      hub.accept(silent)
      await waitFor(() => silent.closedWith !== undefined, { timeoutMs: 2_000 })
      expect(silent.closedWith).toEqual({ code: 1008, reason: 'ERR_TIMEOUT' })
      expect(disconnections).toHaveLength(1)
      await hub.close()
    })
  })
})
