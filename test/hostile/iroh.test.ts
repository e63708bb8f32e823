import { deflateRawSync } from 'node:zlib'
import type { Endpoint } from '@number0/iroh'
import { afterEach, describe, expect, it } from 'vitest'
import {
  createIrohHubEventTarget,
  type HubConnectionInfo,
  type IrohHubEventTarget,
  type IrohHubEventTargetOptions,
} from '../../src/event-target-iroh-hub/index.js'
import {
  createIrohSpokeEventTarget,
  type IrohSpokeEventTarget,
  type IrohSpokeEventTargetOptions,
} from '../../src/event-target-iroh-spoke/index.js'
import type { EventwireError, EventwireStatus } from '../../src/index.js'
import { waitFor } from '../../src/testing/index.js'
import { encodeLengthPrefixed } from '../../src/transport/index.js'
import { heapUsed, nextTask, numberedStream } from '../support/hostile.js'
import { bindHubEndpoint, bindLoopbackEndpoint, loopbackAddr, openRawStream } from '../support/iroh.js'

// The iroh hub and spoke facing hostile peers, over real QUIC streams on 127.0.0.1 inside the
// loopback-only namespace. Each attack on the hub runs while a well-behaved control spoke receives a
// numbered stream: it must get every event, in order. Bounds are measured (heap after a full collection,
// time to close, onError calls, frames sent before the close), never assumed.
//
// A raw peer that never reads stops its QUIC stream's flow control window: once the window is full, the
// hub's writes to it no longer complete and everything further waits in the hub (the stream link's queue,
// then the link writer's), which is where the bounds under test apply. Hubs whose raw peers read what
// they receive are made with `compress: false`, as the raw peer does not inflate.

const cleanup: Array<() => Promise<unknown> | unknown> = []
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step()
})

const HELLO = '[0,1,"raw","spoke"]'
const utf8 = new TextEncoder()

const mib = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MiB`

/** One message as a compressed length-prefixed frame: cheap to write, as large as it inflates to. */
function compressedFrame(text: string): number[] {
  return [...encodeLengthPrefixed(deflateRawSync(utf8.encode(text)), true)]
}

async function startHub(options: Partial<IrohHubEventTargetOptions> = {}) {
  const endpoint = await bindHubEndpoint()
  const errors: EventwireError[] = []
  const connections: HubConnectionInfo[] = []
  const hub: IrohHubEventTarget = createIrohHubEventTarget({
    endpoint,
    onError: (error) => errors.push(error),
    onConnection: (connection) => connections.push(connection),
    ...options,
  })
  cleanup.push(() => endpoint.close())
  cleanup.push(() => hub.close())
  return { hub, endpoint, errors, connections }
}

type RunningHub = Awaited<ReturnType<typeof startHub>>

async function startSpoke(hub: Endpoint, options: Partial<IrohSpokeEventTargetOptions> = {}) {
  const endpoint = await bindLoopbackEndpoint()
  const errors: EventwireError[] = []
  const statuses: EventwireStatus[] = []
  const target: IrohSpokeEventTarget = createIrohSpokeEventTarget({
    endpoint,
    hub: loopbackAddr(hub),
    reconnect: { initialDelayMs: 20, maxDelayMs: 200 },
    connectTimeoutMs: 1_000,
    onError: (error) => errors.push(error),
    onStatus: (status) => statuses.push(status),
    ...options,
  })
  cleanup.push(() => endpoint.close())
  cleanup.push(() => target.close())
  return { target, endpoint, errors, statuses }
}

/** A real spoke that records a numbered stream on `type` and checks it came whole and in order. */
async function controlSpoke({ hub, endpoint }: RunningHub, type = 'tick') {
  const spoke = await startSpoke(endpoint)
  const got: number[] = []
  spoke.target.addEventListener(type, (event) => got.push((event.detail as { n: number }).n))
  await spoke.target.ready
  await spoke.target.flush()
  await waitFor(() => hub.remoteTypes().includes(type), { timeoutMs: 5_000 })
  return {
    spoke,
    got,
    /** Dispatches `count` numbered events from the hub and waits until the control spoke has them all. */
    stream: numberedStream(hub, type, got),
  }
}

async function rawClient(hub: Endpoint) {
  const raw = await openRawStream(hub)
  cleanup.push(() => raw.close())
  return raw
}

/**
 * The bytes a hub holds for all its links (queues, stream buffers, authorize backlogs), from the internal
 * `Hub.buffered`; Infinity where a hub does not count them.
 */
function heldBytes(hub: IrohHubEventTarget): () => number {
  const budget = (hub as unknown as { buffered?: { usedBytes: number } }).buffered
  return () => budget?.usedBytes ?? Number.POSITIVE_INFINITY
}

type Frame = unknown[]
const framesOf = (raw: { frames: unknown[] }) => raw.frames as Frame[]

describe('iroh hub: stalled readers', () => {
  async function stalledReaders(count: number) {
    const running = await startHub({ maxBufferedBytes: 256 * 1024, compress: false })
    const { hub, endpoint } = running
    const control = await controlSpoke(running, 'busy')
    const stalled = await Promise.all(Array.from({ length: count }, () => rawClient(endpoint)))
    for (const [i, raw] of stalled.entries()) await raw.writeFrame(`[4,${HELLO},[2,"busy"],[6,${i}]]`)
    await waitFor(() => stalled.every((raw) => raw.frames.length === 2), { timeoutMs: 5_000 })
    // From here on they read nothing (after the read in progress, which has nothing left to read).
    for (const raw of stalled) raw.pause()
    const held = heldBytes(hub)
    const before = heapUsed()
    const pad = 'p'.repeat(200)
    const total = 20_000
    const started = Date.now()
    let mostHeld = 0
    for (let n = 0; n < total; n++) {
      hub.dispatchEvent(new CustomEvent('busy', { detail: { n, pad } }))
      // Paced by the control spoke (a bounded condition, not a clock): the stalled ones fall behind alone.
      if (n % 500 === 499) {
        mostHeld = Math.max(mostHeld, held())
        await waitFor(() => control.got.length >= n - 499, { timeoutMs: 10_000, intervalMs: 1 })
      }
    }
    await waitFor(() => control.got.length === total, { timeoutMs: 15_000 })
    const seconds = (Date.now() - started) / 1000
    const growth = heapUsed() - before
    expect(control.got).toEqual(Array.from({ length: total }, (_, n) => n))
    const dropped = hub.stats().dropped
    console.log(
      `iroh ${count} stalled: ${total} events (${mib(total * 250)}) in ${seconds.toFixed(2)} s, ` +
        `${dropped} dropped for the stalled, at most ${mostHeld} bytes held, heap +${mib(growth)}`,
    )
    expect(dropped).toBeGreaterThan(0)
    expect(control.spoke.target.stats().dropped).toBe(0)
    // Read again: what is left arrives, then an ERR_OVERFLOW error frame saying how many were lost.
    for (const raw of stalled) raw.resume()
    const overflow = (raw: (typeof stalled)[number]) =>
      framesOf(raw).find((frame) => frame[0] === 5 && frame[1] === 'ERR_OVERFLOW')
    await waitFor(() => stalled.every((raw) => overflow(raw) !== undefined), {
      timeoutMs: 10_000,
      message: 'every stalled reader told of its loss',
    })
    let announced = 0
    for (const raw of stalled) {
      const [, , message] = overflow(raw) as [5, string, string]
      const lost = Number(/^(\d+) events dropped: read too slowly$/.exec(message)?.[1])
      expect(lost).toBeGreaterThan(0)
      announced += lost
      // What the stalled reader did get is in order: the hole is where the error frame says.
      const seen = framesOf(raw)
        .filter((frame) => frame[0] === 1)
        .map((frame) => (frame[3] as { n: number }).n)
      expect(seen.every((n, i) => i === 0 || n > seen[i - 1]!)).toBe(true)
      expect(seen.length).toBeLessThan(total)
    }
    expect(announced).toBeLessThanOrEqual(dropped)
    // While stalled, each link held at most maxBufferedBytes (its queue and its stream's), the control too.
    expect(mostHeld).toBeLessThanOrEqual((count + 1) * 256 * 1024)
    expect(growth).toBeLessThan(count * 1024 * 1024 + 8 * 1024 * 1024)
  }

  it('one stalled spoke: the control spoke gets every event in order, events are dropped for the stalled one, which is told (ERR_OVERFLOW) once it reads again', async () => {
    await stalledReaders(1)
  })

  it('ten stalled spokes: the same, each told of its own loss', async () => {
    await stalledReaders(10)
  })
})

describe('iroh hub: peers that never read', () => {
  it('closes a peer that floods pings and never reads (1013, ERR_OVERFLOW), with bounded heap; the control spoke keeps receiving', async () => {
    const running = await startHub({ maxBufferedBytes: 256 * 1024, compress: false })
    const { hub, endpoint, errors } = running
    const control = await controlSpoke(running)
    const attacker = await rawClient(endpoint)
    await attacker.writeFrame(HELLO)
    await waitFor(() => attacker.frames.length === 1, { timeoutMs: 5_000 })
    attacker.pause()
    const before = heapUsed()
    const started = Date.now()
    // 10,000 pings a message, about 100 KB of pongs to answer; compressed, each costs the attacker 30 KB.
    const pings = compressedFrame(`[4,${Array.from({ length: 10_000 }, (_, i) => `[6,${i}]`).join(',')}]`)
    let sent = 0
    for (; sent < 400 && hub.stats().connections === 2; sent++) {
      await attacker.writeRaw(pings)
      if (sent % 10 === 9) await nextTask()
    }
    await waitFor(() => hub.stats().connections === 1, { timeoutMs: 10_000, message: 'the attacker closed' })
    const closedAfterMs = Date.now() - started
    const growth = heapUsed() - before
    console.log(
      `iroh ping flood: closed after ${sent} messages of 10,000 pings, ${closedAfterMs} ms, heap +${mib(growth)}`,
    )
    expect(errors.map((error) => error.code)).toEqual(['ERR_OVERFLOW'])
    expect(errors[0]?.message).toMatch(/control frames queued for a peer that does not read/)
    expect(closedAfterMs).toBeLessThan(5_000)
    expect(growth).toBeLessThan(16 * 1024 * 1024)
    await waitFor(() => attacker.closedReason() !== undefined, { timeoutMs: 10_000 })
    expect(attacker.closedReason()).toBe('closed by peer: overflow (code 1013)')
    await control.stream(200)
  })

  it('bounds what subscriptions refused past the limit cost a non-reader: onError calls and error frames are rate-limited', async () => {
    const running = await startHub({
      maxSubscriptionsPerConnection: 10,
      maxBufferedBytes: 512 * 1024,
      compress: false,
    })
    const { hub, endpoint, errors } = running
    const control = await controlSpoke(running)
    const attacker = await rawClient(endpoint)
    await attacker.writeFrame(HELLO)
    await waitFor(() => attacker.frames.length === 1, { timeoutMs: 5_000 })
    attacker.pause()
    const before = heapUsed()
    const droppedBefore = hub.stats().dropped
    const started = Date.now()
    const type = 'x'.repeat(200)
    // 300 messages of 500 subscriptions (30 MB of types once inflated), all but 10 past the limit.
    for (let i = 0; i < 300 && hub.stats().connections === 2; i++) {
      await attacker.writeRaw(
        compressedFrame(`[4,${Array.from({ length: 500 }, (_, j) => `[2,"${type}${i}_${j}"]`).join(',')}]`),
      )
      if (i % 20 === 19) await nextTask()
    }
    await waitFor(() => hub.stats().dropped - droppedBefore >= 300 * 500 - 10, {
      timeoutMs: 15_000,
      message: 'every subscription processed',
    })
    const seconds = (Date.now() - started) / 1000
    const growth = heapUsed() - before
    const limitErrors = errors.filter((error) => error.code === 'ERR_LIMIT').length
    console.log(
      `iroh sub flood: ${seconds.toFixed(2)} s, ${limitErrors} ERR_LIMIT reports, heap +${mib(growth)}`,
    )
    expect(errors.length).toBe(limitErrors)
    expect(limitErrors).toBeGreaterThan(0)
    expect(limitErrors).toBeLessThanOrEqual(10 * Math.ceil(seconds + 1))
    expect(growth).toBeLessThan(16 * 1024 * 1024)
    expect(hub.stats().subscriptions).toBe(11)
    expect(hub.stats().connections).toBe(2)
    // Once it reads, the attacker finds only the error frames that were let through.
    attacker.resume()
    await attacker.writeFrame('[6,424242]')
    await waitFor(() => framesOf(attacker).some((frame) => frame[0] === 7 && frame[1] === 424242), {
      timeoutMs: 10_000,
    })
    const errorFrames = framesOf(attacker).filter((frame) => frame[0] === 5)
    expect(errorFrames.length).toBe(limitErrors)
    await control.stream(100)
  })
})

describe('iroh hub: what peers report', () => {
  it('reports a flood of error frames from a spoke as ERR_REMOTE, at most 10 a second, text cut to 200 characters', async () => {
    const running = await startHub()
    const { hub, endpoint, errors } = running
    const control = await controlSpoke(running)
    const attacker = await rawClient(endpoint)
    const long = 'u'.repeat(900)
    const frames = Array.from({ length: 3_000 }, (_, i) =>
      JSON.stringify([5, i % 2 === 0 ? 'ERR_UNAUTHORIZED' : 'ERR_LIMIT', long, null]),
    )
    const started = Date.now()
    await attacker.writeRaw(compressedFrame(`[4,${HELLO},${frames.join(',')}]`))
    await waitFor(() => errors.length >= 1, { timeoutMs: 5_000 })
    await control.stream(100)
    const seconds = (Date.now() - started) / 1000
    console.log(`iroh error flood: ${errors.length} reports in ${seconds.toFixed(2)} s`)
    expect(errors.length).toBeGreaterThan(0)
    expect(errors.length).toBeLessThanOrEqual(10 * Math.ceil(seconds + 1))
    for (const error of errors) {
      expect(error.code).toBe('ERR_REMOTE')
      expect(error.message).toMatch(/reported ERR_(UNAUTHORIZED|LIMIT): "u{200}…"/)
      expect(error.message).not.toContain('u'.repeat(201))
      expect(error.message.length).toBeLessThan(400)
    }
    expect(hub.stats().connections).toBe(2)
  })
})

describe('iroh hub: frames waiting behind a slow authorize', () => {
  it('closes a peer whose frames waiting behind authorize pass maxBufferedBytes (1008), with bounded heap, however small they were on the wire', async () => {
    let release: (allowed: boolean) => void = () => {}
    const pending = new Promise<boolean>((resolve) => {
      release = resolve
    })
    cleanup.push(() => release(true))
    const running = await startHub({
      maxBufferedBytes: 1024 * 1024,
      authorize: ({ type }) => (type === 'slow' ? pending : true),
    })
    const { hub, endpoint, errors } = running
    const control = await controlSpoke(running)
    const attacker = await rawClient(endpoint)
    await attacker.writeFrame(`[4,${HELLO},[1,"slow","raw",0]]`)
    await waitFor(() => attacker.frames.length === 1, { timeoutMs: 5_000 })
    const held = heldBytes(hub)
    const heldBefore = Number.isFinite(held()) ? held() : 0
    const before = heapUsed()
    const started = Date.now()
    // 256 KiB once inflated (262,162 characters), a few hundred bytes on the wire.
    const text = `[1,"slow","raw","${'b'.repeat(256 * 1024)}"]`
    const big = compressedFrame(text)
    let sent = 0
    let mostHeld = 0
    while (sent < 40 && hub.stats().connections === 2) {
      await attacker.writeRaw(big)
      sent++
      // Each frame is either held behind authorize or closes the link: wait for the hub to have it.
      await waitFor(() => hub.stats().connections === 1 || held() - heldBefore >= sent * text.length, {
        timeoutMs: 5_000,
        intervalMs: 1,
        message: `frame ${sent} held or refused`,
      })
      mostHeld = Math.max(mostHeld, held() - heldBefore)
    }
    await waitFor(() => attacker.closedReason() !== undefined, {
      timeoutMs: 5_000,
      message: 'the attacker closed',
    })
    const closedAfterMs = Date.now() - started
    const growth = heapUsed() - before
    console.log(
      `iroh authorize backlog: closed at frame ${sent} of 256 KiB (${big.length} bytes on the wire), ` +
        `${closedAfterMs} ms, at most ${mostHeld} bytes held, heap +${mib(growth)}`,
    )
    expect(attacker.closedReason()).toBe('closed by peer: ERR_OVERFLOW (code 1008)')
    expect(closedAfterMs).toBeLessThan(5_000)
    expect(errors.map((error) => error.code)).toEqual(['ERR_OVERFLOW'])
    expect(framesOf(attacker).filter((frame) => frame[0] === 5)).toEqual([
      [5, 'ERR_OVERFLOW', 'too much waiting for authorization or a schema check', null],
    ])
    // Three frames fit in 1 MiB, the fourth would not: it closes the link, and what was held is let go.
    expect(sent).toBe(4)
    expect(mostHeld).toBeGreaterThanOrEqual(3 * text.length)
    expect(mostHeld).toBeLessThanOrEqual(1024 * 1024)
    expect(held() - heldBefore).toBeLessThanOrEqual(0)
    expect(growth).toBeLessThan(4 * 1024 * 1024)
    expect(hub.stats().connections).toBe(1)
    await control.stream(100)
  })
})

describe('iroh spoke: a hub that floods it', () => {
  it('a hub that floods pings and never reads the pongs: the spoke holds a bounded queue, then drops the link and dials again', async () => {
    const hostile = await bindHubEndpoint()
    cleanup.push(() => hostile.close())
    let connections = 0
    let flooding = true
    cleanup.push(() => {
      flooding = false
    })
    // 10,000 pings with distinct ids a message: about 100 KB of pongs to answer, 30 KB to send.
    const pings = compressedFrame(`[4,${Array.from({ length: 10_000 }, (_, i) => `[6,${i}]`).join(',')}]`)
    const hello = [...encodeLengthPrefixed(utf8.encode('[0,1,"hostile","hub"]'))]
    let sent = 0
    void (async () => {
      for (;;) {
        const incoming = await hostile.acceptNext().catch(() => null)
        if (incoming === null) return
        void (async () => {
          const connection = await (await incoming.accept()).connect()
          const count = ++connections
          const stream = await connection.acceptBi()
          const send = stream.send
          await send.writeAll(hello)
          // Only the first connection is flooded; it never reads what the spoke sends.
          for (; count === 1 && flooding && sent < 1_000; sent++) await send.writeAll(pings)
        })().catch(() => {})
      }
    })()
    const before = heapUsed()
    const started = Date.now()
    const spoke = await startSpoke(hostile, { maxBufferedBytes: 256 * 1024 })
    await waitFor(() => spoke.errors.some((error) => error.code === 'ERR_OVERFLOW'), {
      timeoutMs: 15_000,
      message: 'the spoke gave up on the flooding hub',
    })
    const closedAfterMs = Date.now() - started
    flooding = false
    const growth = heapUsed() - before
    console.log(
      `iroh spoke flooded: overflow after ${sent} messages of 10,000 pings, ${closedAfterMs} ms, heap +${mib(growth)}`,
    )
    expect(growth).toBeLessThan(16 * 1024 * 1024)
    expect(closedAfterMs).toBeLessThan(5_000)
    expect(spoke.errors.map((error) => error.code)).toEqual(['ERR_OVERFLOW'])
    expect(spoke.errors[0]?.message).toMatch(/control frames queued for a peer that does not read/)
    expect(spoke.statuses.map((status) => status.type)).toContain('disconnected')
    // The link is replaced: the spoke dials the hub again.
    await waitFor(() => connections >= 2, { timeoutMs: 5_000, message: 'the spoke dialed again' })
    const redialMs = Date.now() - started - closedAfterMs
    console.log(`iroh spoke flooded: a new connection ${redialMs} ms after the overflow`)
    expect(redialMs).toBeLessThan(2_000)
  })
})
