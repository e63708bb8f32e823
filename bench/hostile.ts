/**
 * Stalled readers: does a spoke that stops reading slow the hub's delivery to the spokes that read?
 *
 * One WebSocket hub with default options (overflow 'drop-oldest', maxBufferedBytes 8 MiB) on a plain Node
 * server on 127.0.0.1 publishes a busy type from its own `dispatchEvent`, with a new ~200-byte detail per
 * event. The good spokes are real clients in a child process (bench/support/hostile-spokes.ts), so the
 * hub's thread does none of their reading; they check that every event arrives, in order, and acknowledge
 * what they have over the IPC channel. The publisher sends CHUNK events per turn of the event loop with at
 * most IN_FLIGHT not yet acknowledged, so the rate is what the hub and the good spokes sustain, not a flood.
 *
 * Variants: 0, 1 or 10 stalled spokes next to the good ones, raw `ws` clients in this process that send a
 * hello and a sub for the busy type, wait for the answer to a ping, and then pause their socket. In each
 * round, each variant connects its stalled spokes afresh and publishes until every one of them is at the
 * limit (the hub drops about one queued event per stalled spoke per new event: it only drops at the
 * limit); only then does the measured window start, and the window fails the run unless the drops go on
 * all through it. The stalled spokes are closed at the end of their round, so no variant runs beside the
 * queues of another. Variants take turns in interleaved rounds; the order flips every round.
 */
import { type ChildProcess, fork } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { rmSync } from 'node:fs'
import { PerformanceObserver } from 'node:perf_hooks'

import { WebSocket } from 'ws'
import type { WebSocketServerEventTarget } from '../src/event-target-websocket-server/index.js'
import { waitFor } from '../src/testing/index.js'
import { collectGarbage, expectCount, median, nextTask, ROUND_MS, ROUNDS, report, si } from './harness.js'
import { bundleChild } from './support/child.js'
import { startHub } from './support/eventwire.js'
import type { FromSpokes, ToSpokes } from './support/hostile-spokes.js'

const TYPE = 'busy'
const PROBE_TYPE = 'hostile-probe'
const GOOD_SPOKES = 2
const STALLED = [0, 1, 10] as const
/** Events dispatched per turn of the event loop. */
const CHUNK = 100
/** Most events published and not yet acknowledged by every good spoke. */
const IN_FLIGHT = 1_000
/** Events every variant publishes before its window, stalled spokes or not. */
const LEAD_IN = 20_000
/** Longest a fill may take, in events, before the run fails: the stalled spokes never reached the limit. */
const MAX_FILL = 2_000_000
const WINDOW_MS = Math.max(1_000, ROUND_MS)
/**
 * How long the stalled spokes stay stalled, at the limit, before the window (HOSTILE_SETTLE_MS): 0 (the
 * default) measures the start of a stall; 2000 measures a stall that lasts, after the hub has given up on
 * readers that stopped (a second without progress).
 */
const SETTLE_MS = Number(process.env.HOSTILE_SETTLE_MS ?? 0)
/** 100 characters of text in every detail. */
const TEXT =
  'The quick brown fox jumps over the lazy dog; pack my box with five dozen liquor jugs. 0123456789abcd'

const label = (stalled: number) => `${stalled} stalled`

/** GC pauses of this thread so far, ms (from the `gc` performance entries, which arrive a little late). */
let gcPauseMs = 0
const gcObserver = new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) gcPauseMs += entry.duration
})

/** The good spokes' process: bundled like the benchmarks (see bench/index.ts), forked, talked to over IPC. */
interface Spokes {
  readonly child: ChildProcess
  /** Events every good spoke has, as last acknowledged. */
  acked(): number
  /** Resolves at the next acknowledgement (or failure). */
  nextAck(): Promise<void>
  ask(question: ToSpokes): Promise<FromSpokes>
  /** Throws what went wrong in the child, if anything has. */
  check(): void
  close(): Promise<void>
}

async function startSpokes(url: string): Promise<Spokes> {
  const file = await bundleChild('../bench/support/hostile-spokes.ts', 'hostile-spokes')
  const child = fork(file, [url, String(GOOD_SPOKES), TYPE, PROBE_TYPE], {
    execArgv: [],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  })
  let acked = 0
  let failure: Error | undefined
  let wake: (() => void) | undefined
  let pending: { resolve: (message: FromSpokes) => void; reject: (error: Error) => void } | undefined
  const fail = (error: Error) => {
    failure ??= error
    wake?.()
    pending?.reject(failure)
  }
  child.on('message', (message: FromSpokes) => {
    if (message.type === 'ack') {
      acked = message.count
      wake?.()
    } else if (message.type === 'error') fail(new Error(`good spoke: ${message.message}`))
    else pending?.resolve(message)
  })
  child.on('exit', (code, signal) => fail(new Error(`good spokes' process exited (${code ?? signal})`)))
  const check = () => {
    if (failure !== undefined) throw failure
  }
  return {
    child,
    acked: () => acked,
    nextAck: () => {
      check()
      return new Promise((resolve) => {
        wake = () => {
          wake = undefined
          resolve()
        }
      })
    },
    ask: (question) => {
      check()
      return new Promise((resolve, reject) => {
        pending = {
          resolve: (message) => {
            pending = undefined
            resolve(message)
          },
          reject,
        }
        child.send(question)
      })
    },
    check,
    close: async () => {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((resolve) => child.once('exit', resolve))
        failure ??= new Error('closing')
        child.send({ type: 'close' } satisfies ToSpokes)
        const timer = setTimeout(() => child.kill(), 5_000)
        await exited
        clearTimeout(timer)
      }
      rmSync(file, { force: true })
    },
  }
}

/**
 * A raw client that says hello, subscribes to the busy type, waits for the pong to a ping (so the hub has
 * read its sub) and then stops reading: everything the hub sends it piles up, in the kernel's socket
 * buffers first, then in the hub's socket buffer and queue for it.
 */
async function stalledSpoke(url: string, name: string): Promise<WebSocket> {
  const socket = new WebSocket(url)
  await new Promise((resolve, reject) => {
    socket.once('open', resolve)
    socket.once('error', reject)
  })
  const ponged = new Promise<void>((resolve) => {
    socket.on('message', (data) => {
      if (String(data).includes('[7,1]')) resolve()
    })
  })
  socket.send(JSON.stringify([0, 1, name, 'spoke']))
  socket.send(JSON.stringify([2, TYPE]))
  socket.send('[6,1]')
  await ponged
  // Closed from here at the end of its round; an error before that fails the round's checks instead.
  socket.on('error', () => {})
  socket.pause()
  return socket
}

/** What one variant measured in one round. */
interface Sample {
  /** Events per second delivered to every good spoke. */
  rate: number
  /** The hub process's CPU time per event, µs. */
  hubMicrosPerEvent: number
  /** CPU time over wall time, hub process and good spokes' process. */
  hubLoad: number
  spokesLoad: number
  /** The hub thread's GC pauses over wall time. */
  gcLoad: number
  events: number
  /** `hub.stats().dropped` over the window, and over the whole round (the fill too). */
  dropped: number
  droppedInRound: number
  /** Heap and external memory after a full GC, at the end of the window, over before the round. */
  heapGrowth: number
  externalGrowth: number
  /** Events and ms from the first publish until every stalled spoke was at the limit. */
  fillEvents: number
  fillMs: number
}

interface Publisher {
  readonly sent: () => number
  /** Publishes CHUNK per turn, at most IN_FLIGHT unacknowledged, until `isDone()`. */
  pump(isDone: () => boolean): Promise<void>
  /** Resolves once every good spoke has every event published. */
  drain(): Promise<void>
}

function publisher(hub: WebSocketServerEventTarget, spokes: Spokes): Publisher {
  let sent = 0
  const publish = () => {
    const n = sent++
    const detail = { type: TYPE, id: randomUUID(), payload: { n, s: TEXT, ts: Date.now() } }
    hub.dispatchEvent(new CustomEvent(TYPE, { detail }))
  }
  return {
    sent: () => sent,
    pump: async (isDone) => {
      while (!isDone()) {
        const room = IN_FLIGHT - (sent - spokes.acked())
        if (room <= 0) {
          await spokes.nextAck()
          continue
        }
        for (let i = Math.min(CHUNK, room); i > 0; i--) publish()
        await nextTask()
      }
    },
    drain: async () => {
      const deadline = performance.now() + 60_000
      while (spokes.acked() < sent) {
        if (performance.now() > deadline) throw new Error(`good spokes stuck at ${spokes.acked()} of ${sent}`)
        await spokes.nextAck()
      }
    },
  }
}

function memory(): { heap: number; external: number } {
  collectGarbage()
  const { heapUsed, external } = process.memoryUsage()
  return { heap: heapUsed, external }
}

async function cpuOfSpokes(spokes: Spokes): Promise<number> {
  const answer = await spokes.ask({ type: 'cpu' })
  if (answer.type !== 'cpu') throw new Error(`unexpected answer ${answer.type}`)
  return answer.micros
}

async function round(
  hub: WebSocketServerEventTarget,
  url: string,
  spokes: Spokes,
  pub: Publisher,
  stalledCount: number,
  roundIndex: number,
): Promise<Sample> {
  const base = memory()
  const droppedAtStart = hub.stats().dropped
  const stalled = await Promise.all(
    Array.from({ length: stalledCount }, (_, i) => stalledSpoke(url, `stalled-${roundIndex}-${i}`)),
  )

  // Fill: until LEAD_IN events are out and, over the last 1,000 or more, the hub dropped about one
  // queued event per stalled spoke per new event.
  const fillStart = performance.now()
  const firstEvent = pub.sent()
  let checkpoint = { sent: firstEvent, dropped: hub.stats().dropped }
  let isFull = stalledCount === 0
  let fillEvents = 0
  let fillMs = 0
  await pub.pump(() => {
    const sent = pub.sent()
    if (!isFull && sent - checkpoint.sent >= 1_000) {
      const { dropped } = hub.stats()
      isFull = dropped - checkpoint.dropped >= 0.95 * stalledCount * (sent - checkpoint.sent)
      if (isFull) {
        fillEvents = sent - firstEvent
        fillMs = performance.now() - fillStart
      }
      checkpoint = { sent, dropped }
      if (sent - firstEvent > MAX_FILL) {
        throw new Error(
          `${label(stalledCount)}: the stalled spokes were not all at the limit after ${MAX_FILL} events`,
        )
      }
    }
    return isFull && sent - firstEvent >= LEAD_IN
  })
  if (stalledCount > 0 && SETTLE_MS > 0) {
    const settled = performance.now() + SETTLE_MS
    await pub.pump(() => performance.now() >= settled)
  }
  await pub.drain()

  // The window: publish for WINDOW_MS, then wait until the good spokes have it all.
  const droppedBefore = hub.stats().dropped
  const sentBefore = pub.sent()
  const spokesCpuBefore = await cpuOfSpokes(spokes)
  const cpuBefore = process.cpuUsage()
  const gcBefore = gcPauseMs
  const start = performance.now()
  const end = start + WINDOW_MS
  await pub.pump(() => performance.now() >= end)
  await pub.drain()
  const ms = performance.now() - start
  const cpu = process.cpuUsage(cpuBefore)
  const spokesCpu = (await cpuOfSpokes(spokes)) - spokesCpuBefore
  const events = pub.sent() - sentBefore
  const dropped = hub.stats().dropped - droppedBefore
  if (stalledCount === 0) expectCount(`${label(0)}: hub.stats().dropped in the window`, dropped, 0)
  else if (dropped < 0.95 * stalledCount * events) {
    throw new Error(
      `sanity check failed: ${label(stalledCount)}: ${dropped} dropped for ${events} events in the window, ` +
        `expected about ${stalledCount * events} (the stalled spokes left the limit)`,
    )
  }

  const after = memory()
  for (const socket of stalled) socket.terminate()
  await waitFor(() => hub.stats().connections === GOOD_SPOKES, {
    timeoutMs: 10_000,
    message: 'the hub closed the stalled spokes',
  })
  return {
    rate: (events / ms) * 1000,
    hubMicrosPerEvent: (cpu.user + cpu.system) / events,
    hubLoad: (cpu.user + cpu.system) / 1000 / ms,
    spokesLoad: spokesCpu / 1000 / ms,
    gcLoad: (gcPauseMs - gcBefore) / ms,
    events,
    dropped,
    droppedInRound: hub.stats().dropped - droppedAtStart,
    heapGrowth: after.heap - base.heap,
    externalGrowth: after.external - base.external,
    fillEvents,
    fillMs,
  }
}

type Median = (pick: (s: Sample) => number) => number

/** The table of what else each variant measured: medians over the recorded rounds. */
function details(samples: Map<number, Sample[]>, frameBytes: number): string {
  type Column = [name: string, width: number, value: (list: Sample[], m: Median) => string]
  const columns: Column[] = [
    ['hub µs/event', 14, (_, m) => m((s) => s.hubMicrosPerEvent).toFixed(2)],
    ['hub CPU', 9, (_, m) => percent(m((s) => s.hubLoad))],
    ['hub GC', 8, (_, m) => percent(m((s) => s.gcLoad))],
    ['spokes CPU', 12, (_, m) => percent(m((s) => s.spokesLoad))],
    ['dropped/s', 11, (_, m) => si(m((s) => (s.dropped / s.events) * s.rate))],
    ['dropped', 10, (list) => si(list.reduce((sum, s) => sum + s.droppedInRound, 0))],
    ['heap', 10, (_, m) => mb(m((s) => s.heapGrowth))],
    ['external', 10, (_, m) => mb(m((s) => s.externalGrowth))],
  ]
  const lines = [
    `\nhostile: per variant, medians over ${ROUNDS} rounds (${frameBytes}-byte event frame)`,
    '  CPU, GC pauses: share of the window; dropped/s: hub.stats().dropped in the window; dropped: in all',
    '  rounds, fills included; heap, external: growth after a full GC, the stalled spokes still connected',
    `  ${'variant'.padEnd(12)}${columns.map(([name, width]) => name.padStart(width)).join('')}` +
      '  stalled at the limit after',
  ]
  for (const [count, list] of samples) {
    const m: Median = (pick) => median(list.map(pick))
    const events = m((s) => s.fillEvents)
    const fill =
      count === 0
        ? '-'
        : `${si(events)} events (~${Math.round((events * frameBytes) / 1024 / 1024)} MB), ${Math.round(m((s) => s.fillMs))} ms`
    const values = columns.map(([, width, value]) => value(list, m).padStart(width))
    lines.push(`  ${label(count).padEnd(12)}${values.join('')}  ${fill}`)
  }
  // On a shared machine the hub may not get a whole core: its CPU per event is the steadier measure.
  const base = samples.get(0)!
  for (const count of STALLED.filter((c) => c > 0)) {
    const perRound = samples.get(count)!.map((s, i) => base[i]!.hubMicrosPerEvent / s.hubMicrosPerEvent)
    const range = `${Math.min(...perRound).toFixed(2)}–${Math.max(...perRound).toFixed(2)}`
    lines.push(
      `  hub CPU per event, ${label(0)} / ${label(count)}: ${median(perRound).toFixed(2)}×  rounds ${range}` +
        '  (the rate ratio of a hub that has a core to itself)',
    )
  }
  return lines.join('\n')
}

const mb = (bytes: number) => `${bytes >= 0 ? '+' : ''}${(bytes / 1024 / 1024).toFixed(1)} MB`
const percent = (load: number) => `${Math.round(load * 100)}%`

export async function run(): Promise<void> {
  const running = await startHub()
  const { hub, url } = running
  let probes = 0
  hub.addEventListener(PROBE_TYPE, () => {
    probes++
  })
  const spokes = await startSpokes(url)
  gcObserver.observe({ entryTypes: ['gc'] })
  try {
    await waitFor(
      () => {
        spokes.check()
        return probes === GOOD_SPOKES
      },
      { timeoutMs: 15_000, message: 'the good spokes subscribed' },
    )
    const pub = publisher(hub, spokes)
    const detail = { type: TYPE, id: randomUUID(), payload: { n: 123456, s: TEXT, ts: Date.now() } }
    const detailBytes = JSON.stringify(detail).length
    const frame = JSON.stringify([1, TYPE, hub.nodeId, detail])

    const samples = new Map<number, Sample[]>(STALLED.map((count) => [count, []]))
    // Round 0 warms up every variant (JIT, the overflow path) and is not recorded.
    for (let r = 0; r <= ROUNDS; r++) {
      const order = r % 2 === 0 ? STALLED : [...STALLED].reverse()
      for (const count of order) {
        const result = await round(hub, url, spokes, pub, count, r)
        if (r > 0) samples.get(count)!.push(result)
      }
    }

    const answer = await spokes.ask({ type: 'counts' })
    if (answer.type !== 'counts') throw new Error(`unexpected answer ${answer.type}`)
    answer.counts.forEach((count, i) => {
      expectCount(`good spoke ${i}`, count, pub.sent())
    })

    report(
      {
        title:
          `hostile: hub -> ${GOOD_SPOKES} good spokes (another process) beside 0, 1 or 10 stalled ones; ` +
          `${detailBytes}-byte detail, ${CHUNK} per tick, <= ${IN_FLIGHT} in flight, ${WINDOW_MS} ms windows, ` +
          `stalled ${SETTLE_MS} ms before the window ` +
          '(events/s to every good spoke)',
        unit: 'event',
        contenders: [],
        ratios: [
          { ours: label(1), theirs: label(0), target: 0.8 },
          { ours: label(10), theirs: label(0), target: 0.8 },
        ],
      },
      new Map(STALLED.map((count) => [label(count), samples.get(count)!.map((s) => s.rate)])),
    )

    console.log(details(samples, frame.length))
  } finally {
    gcObserver.disconnect()
    await spokes.close()
    await running.close()
  }
}
