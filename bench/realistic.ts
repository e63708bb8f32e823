/**
 * Throughput and latency as users run them: a ~200-byte JSON envelope, a new object per event
 * (`{ type, id: crypto.randomUUID(), payload: { n, s: <100 characters>, ts: Date.now() } }`); sender and
 * receiver in different processes (WebSocket: the hub's process is the measured one, all spokes of a
 * variant in one child process) or threads (worker); flow control with at most IN_FLIGHT events in
 * flight, acknowledged every CHUNK by the receiver over the same socket or port as the data; eventwire
 * with default options beside the naive raw loop (one JSON.stringify and one send or postMessage per
 * event) and a batched raw loop (one send per turn of the event loop; 16 events per postMessage), the
 * ceiling of what batching buys.
 *
 * Each path runs in a process of its own (this file, forked with REALISTIC_PATH set), so no path runs
 * beside the JIT state, heap or sockets of another; each variant of a path has its own fresh child
 * process or worker. Variants take turns in interleaved rounds, the order flipping every round, and every
 * receiver checks that every event arrives, in order: a variant that loses, doubles or reorders one fails
 * the run. REALISTIC_ONLY=worker,fanout-100 runs only the paths named.
 */
import { type ChildProcess, fork } from 'node:child_process'
import { rmSync } from 'node:fs'
import { createServer } from 'node:http'
import { performance } from 'node:perf_hooks'
import { pathToFileURL } from 'node:url'
import { MessageChannel, Worker } from 'node:worker_threads'

import { type WebSocket, WebSocketServer } from 'ws'
import { createWorkerEventTarget } from '../src/event-target-worker/index.js'
import { createEvent } from '../src/index.js'
import { waitFor } from '../src/testing/index.js'
import {
  collectGarbage,
  expectCount,
  median,
  type Percentiles,
  percentiles,
  ROUND_MS,
  ROUNDS,
  report,
  si,
} from './harness.js'
import { bundleChild, childExecArgv } from './support/child.js'
import { listen, startHub } from './support/eventwire.js'
import {
  ACK_DOWN,
  ACK_UP,
  type Ack,
  CHUNK,
  type Detail,
  DOWN,
  detailOf,
  Flow,
  type FromSpokes,
  type FromWorker,
  IN_FLIGHT,
  nowMicros,
  pump,
  Receiver,
  type ToSpokes,
  type ToWorker,
  UP,
  type Variant,
  WORKER_BATCH,
  type WorkerSetup,
} from './support/realistic-common.js'

/** Events each measured window sends at least, so that filling and draining the window stay a small part. */
const MIN_WINDOW_EVENTS = 5 * IN_FLIGHT
/** Latency samples per contender, recorded after LATENCY_WARMUP unrecorded ones. */
const LATENCY_SAMPLES = 1_000
const LATENCY_WARMUP = 200
/** Latency target: ours within this factor of raw at p50. */
const LATENCY_TARGET = 1.2

const VARIANTS: readonly Variant[] = ['ours', 'naive', 'batched']

// --- results, sent from each path's process to the parent ---

interface ThroughputResult {
  kind: 'throughput'
  label: string
  unit: string
  /** Median rate per variant. */
  rates: Record<Variant, number>
  /** Medians (and ranges) of the per-round ratios. */
  oursToNaive: Ratio
  ceiling: Ratio
  target: number
}

interface Ratio {
  median: number
  min: number
  max: number
}

interface LatencyRow {
  label: string
  /** How one way was measured. */
  clock: string
  ours: { oneWay: Percentiles; roundTrip: Percentiles }
  raw: { oneWay: Percentiles; roundTrip: Percentiles }
}

interface LatencyResult {
  kind: 'latency'
  rows: LatencyRow[]
}

type PathResult = ThroughputResult | LatencyResult

// --- the paths ---

/** Each path, run in a process of its own. */
const PATHS: Record<string, () => Promise<PathResult>> = {
  worker: () => workerThroughput(),
  'hub-1': () => hubToSpokes(1, 2.5),
  'spoke-hub': () => spokeToHub(),
  'fanout-10': () => hubToSpokes(10, 1.5),
  'fanout-100': () => hubToSpokes(100, 1.5),
  'latency-worker': () => workerLatency(),
  'latency-websocket': () => websocketLatency(),
}

const spokesFile = () => process.env.REALISTIC_SPOKES!
const workerFile = () => process.env.REALISTIC_WORKER!

// --- interleaved rounds ---

/** One variant of a throughput path, set up and ready to measure. */
interface Contender {
  readonly name: string
  readonly variant: Variant
  /** Sends for about `ms` (and at least `minEvents`), until every receiver has acknowledged all of it. */
  window(ms: number, minEvents: number): Promise<{ events: number; ms: number }>
  /** The receiving or sending side in the other process or thread: what it has used so far. */
  otherUsage(): Promise<Usage>
  /** Throws unless every receiver got every event sent, in order. */
  check(): Promise<void>
  close(): Promise<void>
}

interface ThroughputSpec {
  label: string
  title: string
  /** `event`, or `delivery` for fan-out (events × spokes). */
  unit: string
  /** Rates are events/s times this (the spokes of a fan-out). */
  perEvent: number
  target: number
  /** The names of the two sides in the table of loads. */
  sides: [measured: string, other: string]
  /** How the CPU time was measured, for the table of loads. */
  cpuNote: string
  contenders: Contender[]
}

/**
 * What the other side has used so far: its event loop's busy and idle ms, and the CPU time of its process
 * in µs (undefined for a worker thread, whose CPU time is its process's, counted on the measured side).
 */
interface Usage {
  active: number
  idle: number
  cpu: number | undefined
}

/** One side in one window: share of the window its event loop was busy, and CPU µs per event sent. */
interface Load {
  busy: number
  micros: number | undefined
}

async function interleaved(spec: ThroughputSpec): Promise<ThroughputResult> {
  const { contenders } = spec
  const rates = new Map<string, number[]>(contenders.map((c) => [c.name, []]))
  const loads = new Map<string, { measured: Load[]; other: Load[] }>(
    contenders.map((c) => [c.name, { measured: [], other: [] }]),
  )
  // Round 0 warms every variant up (JIT, first-use allocations) and is not recorded.
  for (let round = 0; round <= ROUNDS; round++) {
    const order = round % 2 === 0 ? contenders : [...contenders].reverse()
    for (const c of order) {
      collectGarbage()
      const otherBefore = await c.otherUsage()
      const before = performance.eventLoopUtilization()
      const cpuBefore = process.cpuUsage()
      const { events, ms } = await c.window(ROUND_MS, MIN_WINDOW_EVENTS)
      const cpu = process.cpuUsage(cpuBefore)
      const mine = performance.eventLoopUtilization(before)
      const otherAfter = await c.otherUsage()
      if (round === 0) continue
      rates.get(c.name)!.push(((events * spec.perEvent) / ms) * 1000)
      const otherActive = otherAfter.active - otherBefore.active
      const otherTotal = otherActive + otherAfter.idle - otherBefore.idle
      const otherCpu =
        otherAfter.cpu === undefined || otherBefore.cpu === undefined
          ? undefined
          : otherAfter.cpu - otherBefore.cpu
      const load = loads.get(c.name)!
      load.measured.push({ busy: mine.utilization, micros: (cpu.user + cpu.system) / events })
      load.other.push({
        busy: otherActive / otherTotal,
        micros: otherCpu === undefined ? undefined : otherCpu / events,
      })
    }
  }
  for (const c of contenders) await c.check()

  const [ours, naive, batched] = VARIANTS.map((v) => contenders.find((c) => c.variant === v)!.name) as [
    string,
    string,
    string,
  ]
  report(
    {
      title: spec.title,
      unit: spec.unit,
      contenders: [],
      ratios: [
        { ours, theirs: naive, target: spec.target },
        { ours: batched, theirs: naive },
      ],
    },
    rates,
  )
  const [measured, other] = spec.sides
  const lines = [
    `  busy: share of the window the side's event loop was busy; ${spec.cpuNote}`,
    `  ${'contender'.padEnd(34)}${`${measured} busy`.padStart(18)}${'CPU µs/event'.padStart(14)}` +
      `${`${other} busy`.padStart(20)}${'CPU µs/event'.padStart(14)}`,
  ]
  for (const c of contenders) {
    const load = loads.get(c.name)!
    const cell = (list: Load[], width: number) => {
      const micros = list.map((l) => l.micros).filter((m): m is number => m !== undefined)
      return (
        `${Math.round(median(list.map((l) => l.busy)) * 100)}%`.padStart(width) +
        (micros.length === 0 ? '-' : median(micros).toFixed(2)).padStart(14)
      )
    }
    lines.push(`  ${c.name.padEnd(34)}${cell(load.measured, 18)}${cell(load.other, 20)}`)
  }
  console.log(lines.join('\n'))

  const ratio = (a: string, b: string): Ratio => {
    const perRound = rates.get(a)!.map((x, i) => x / rates.get(b)![i]!)
    return { median: median(perRound), min: Math.min(...perRound), max: Math.max(...perRound) }
  }
  return {
    kind: 'throughput',
    label: spec.label,
    unit: spec.unit,
    rates: {
      ours: median(rates.get(ours)!),
      naive: median(rates.get(naive)!),
      batched: median(rates.get(batched)!),
    },
    oursToNaive: ratio(ours, naive),
    ceiling: ratio(batched, naive),
    target: spec.target,
  }
}

// --- worker: main thread -> worker ---

const WORKER_NAMES: Record<Variant, string> = {
  ours: 'eventwire worker target',
  naive: 'raw: postMessage per event',
  batched: `raw: ${WORKER_BATCH} events per postMessage`,
}

interface StartedWorker {
  send(first: number, count: number): void
  usage(): Usage
  /** Events the worker has taken, as it says on its control port. */
  count(): Promise<number>
  close(): Promise<void>
}

/** A fresh receiving worker of one variant; `onAck` gets its acknowledgements, from the same port. */
async function startWorker(
  variant: Variant,
  ackEvery: number,
  onAck: (ack: Ack) => void,
  fail: (error: Error) => void,
): Promise<StartedWorker> {
  const { port1, port2 } = new MessageChannel()
  const setup: WorkerSetup = { variant, ackEvery, control: port2 }
  const worker = new Worker(pathToFileURL(workerFile()), { workerData: setup, transferList: [port2] })
  // In the same task as `new Worker`: a worker's messages that arrive before a listener exists are lost.
  const target = variant === 'ours' ? createWorkerEventTarget(worker) : undefined
  if (target !== undefined) {
    target.addEventListener(ACK_DOWN, (event) => onAck((event as CustomEvent<Ack>).detail))
  } else {
    worker.on('message', (ack: Ack) => onAck(ack))
  }
  let answer: ((count: number) => void) | undefined
  await new Promise<void>((resolve, reject) => {
    const failed = (error: Error) => {
      reject(error)
      fail(error)
    }
    worker.on('error', (error) => failed(new Error(`${variant} worker: ${error.message}`)))
    port1.on('message', (message: FromWorker) => {
      if (message.type === 'started') resolve()
      else if (message.type === 'counts') answer?.(message.count)
      else failed(new Error(`${variant} worker: ${message.message}`))
    })
  })
  if (target !== undefined) {
    await target.ready
    // The worker's subscription has arrived: the target sends a peer only the types it listens to.
    await target.flush()
  }
  let send: StartedWorker['send']
  if (target !== undefined) {
    send = (first, count) => {
      for (let i = 0; i < count; i++) target.dispatchEvent(createEvent(DOWN, detailOf(DOWN, first + i)))
    }
  } else if (variant === 'naive') {
    send = (first, count) => {
      for (let i = 0; i < count; i++) worker.postMessage(detailOf(DOWN, first + i))
    }
  } else {
    send = (first, count) => {
      for (let i = 0; i < count; i += WORKER_BATCH) {
        const batch: Detail[] = []
        for (let j = i; j < Math.min(count, i + WORKER_BATCH); j++) batch.push(detailOf(DOWN, first + j))
        worker.postMessage(batch)
      }
    }
  }
  return {
    send,
    usage: () => ({ ...worker.performance.eventLoopUtilization(), cpu: undefined }),
    count: () =>
      new Promise((resolve) => {
        answer = resolve
        port1.postMessage({ type: 'counts' } satisfies ToWorker)
      }),
    close: async () => {
      await target?.close()
      port1.close()
      await worker.terminate()
    },
  }
}

async function workerThroughput(): Promise<ThroughputResult> {
  const contenders: Contender[] = []
  for (const variant of VARIANTS) {
    const flow = new Flow(1)
    const worker = await startWorker(
      variant,
      CHUNK,
      (ack) => flow.ack(ack.receiver, ack.count),
      (error) => flow.fail(error),
    )
    contenders.push({
      name: WORKER_NAMES[variant],
      variant,
      window: (ms, minEvents) => pump(flow, worker.send, ms, minEvents),
      otherUsage: async () => worker.usage(),
      check: async () => {
        flow.check()
        expectCount(WORKER_NAMES[variant], await worker.count(), flow.sent)
      },
      close: () => worker.close(),
    })
  }
  try {
    return await interleaved({
      label: 'worker: main -> worker',
      title:
        `realistic: main thread -> worker_threads worker, ~200-byte JSON envelope, ${CHUNK} per turn, ` +
        `<= ${IN_FLIGHT} in flight, acknowledged every ${CHUNK} on the same port (events/s)`,
      unit: 'event',
      perEvent: 1,
      target: 2,
      sides: ['main thread', 'worker thread'],
      cpuNote: 'CPU: the CPU time of the process (main and worker thread together) per event sent',
      contenders,
    })
  } finally {
    for (const c of contenders) await c.close()
  }
}

// --- WebSocket: the spokes' process ---

interface SpokesProcess {
  ask(question: ToSpokes): Promise<FromSpokes>
  /** Throws what went wrong in the child, if anything has. */
  check(): void
  close(): Promise<void>
}

/** Starts `count` spokes of one variant in a fresh process; resolves once they are connected and subscribed. */
async function startSpokes(
  variant: Variant,
  url: string,
  count: number,
  ackEvery: number,
  fail: (error: Error) => void,
): Promise<SpokesProcess> {
  const child: ChildProcess = fork(spokesFile(), [variant, url, String(count), String(ackEvery)], {
    execArgv: childExecArgv(),
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  })
  let failure: Error | undefined
  let pending: { resolve: (message: FromSpokes) => void; reject: (error: Error) => void } | undefined
  let ready: { resolve: () => void; reject: (error: Error) => void } | undefined
  const isReady = new Promise<void>((resolve, reject) => {
    ready = { resolve, reject }
  })
  const failed = (error: Error) => {
    failure ??= error
    pending?.reject(failure)
    ready?.reject(failure)
    fail(failure)
  }
  child.on('message', (message: FromSpokes) => {
    if (message.type === 'ready') ready?.resolve()
    else if (message.type === 'error') failed(new Error(`${variant} spokes: ${message.message}`))
    else {
      const waiting = pending
      pending = undefined
      waiting?.resolve(message)
    }
  })
  child.on('exit', (code, signal) =>
    failed(new Error(`${variant} spokes' process exited (${code ?? signal})`)),
  )
  const check = () => {
    if (failure !== undefined) throw failure
  }
  const timer = setTimeout(() => failed(new Error(`${variant} spokes: not ready after 60 s`)), 60_000)
  try {
    await isReady
  } finally {
    clearTimeout(timer)
  }
  return {
    ask: (question) => {
      check()
      return new Promise((resolve, reject) => {
        pending = { resolve, reject }
        child.send(question)
      })
    },
    check,
    close: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return
      const exited = new Promise((resolve) => child.once('exit', resolve))
      failure ??= new Error('closing')
      child.send({ type: 'close' } satisfies ToSpokes)
      const timer = setTimeout(() => child.kill(), 5_000)
      await exited
      clearTimeout(timer)
    },
  }
}

async function usageOf(spokes: SpokesProcess): Promise<Usage> {
  const answer = await spokes.ask({ type: 'usage' })
  if (answer.type !== 'usage') throw new Error(`unexpected answer ${answer.type}`)
  return answer
}

async function countsOf(spokes: SpokesProcess): Promise<{ counts: number[]; sent: number }> {
  const answer = await spokes.ask({ type: 'counts' })
  if (answer.type !== 'counts') throw new Error(`unexpected answer ${answer.type}`)
  return answer
}

// --- WebSocket: the hub's side, ours or raw ---

/** The hub's end of one variant, in this process. */
interface HubSide {
  url: string
  /** Sends `down` events `first` to `first + count - 1` to every spoke. */
  sendDown(first: number, count: number): void
  /** Acknowledgements of `down` events arrive here; set before spokes connect. */
  onDownAck: (ack: Ack) => void
  /** Takes the `up` events of spoke 0 and acknowledges them on the same socket. */
  upReceiver: Receiver | undefined
  /** Resolves once `count` spokes are connected (and, for ours, subscribed). */
  connected(count: number): Promise<void>
  close(): Promise<void>
}

const WEBSOCKET_NAMES: Record<Variant, string> = {
  ours: 'eventwire hub and clients',
  naive: 'raw ws: one send per event',
  batched: 'raw ws: one send per turn',
}

/**
 * The hub's side of a variant. `ackEvery` is how often it acknowledges `up` events. Ours: a hub with
 * default options on a plain Node server; raw: a `ws` server whose `down` loop stringifies each event
 * once and sends it to every socket (naive) or stringifies a turn's events as one array (batched).
 */
async function hubSide(variant: Variant, ackEvery: number, fail: (error: Error) => void): Promise<HubSide> {
  const failWith = (message: string) => fail(new Error(`${variant} hub: ${message}`))
  if (variant === 'ours') {
    const running = await startHub()
    const { hub } = running
    const side: HubSide = {
      url: running.url,
      sendDown: (first, count) => {
        for (let i = 0; i < count; i++) hub.dispatchEvent(createEvent(DOWN, detailOf(DOWN, first + i)))
      },
      onDownAck: () => {},
      upReceiver: new Receiver(
        0,
        ACK_UP,
        ackEvery,
        (ack) => hub.dispatchEvent(createEvent(ACK_UP, ack)),
        failWith,
      ),
      connected: async (count) => {
        await hub.whenSubscribed(DOWN, { count, timeoutMs: 60_000 })
      },
      close: async () => {
        const { dropped } = hub.stats()
        await running.close()
        if (dropped !== 0) throw new Error(`sanity check failed: the hub dropped ${dropped} events`)
      },
    }
    hub.addEventListener(ACK_DOWN, (event) => side.onDownAck((event as CustomEvent<Ack>).detail))
    hub.addEventListener(UP, (event) => side.upReceiver!.take((event as CustomEvent<Detail>).detail))
    return side
  }
  const server = createServer()
  const wss = new WebSocketServer({ server })
  const sockets: WebSocket[] = []
  const port = await listen(server)
  const side: HubSide = {
    url: `ws://127.0.0.1:${port}`,
    sendDown:
      variant === 'naive'
        ? (first, count) => {
            for (let i = 0; i < count; i++) {
              const text = JSON.stringify(detailOf(DOWN, first + i))
              for (const socket of sockets) socket.send(text)
            }
          }
        : (first, count) => {
            const batch: Detail[] = []
            for (let i = 0; i < count; i++) batch.push(detailOf(DOWN, first + i))
            const text = JSON.stringify(batch)
            for (const socket of sockets) socket.send(text)
          },
    onDownAck: () => {},
    upReceiver: undefined,
    connected: async (count) => {
      await waitFor(() => sockets.length === count, { timeoutMs: 60_000 })
    },
    close: async () => {
      for (const socket of sockets) socket.terminate()
      wss.close()
      server.closeAllConnections()
      server.close()
    },
  }
  wss.on('connection', (socket) => {
    sockets.push(socket)
    const upReceiver = new Receiver(0, ACK_UP, ackEvery, (ack) => socket.send(JSON.stringify(ack)), failWith)
    socket.on('message', (data) => {
      const message = JSON.parse(String(data)) as Detail | Detail[] | Ack
      if (Array.isArray(message)) {
        for (const detail of message) upReceiver.take(detail)
      } else if (message.type === UP) upReceiver.take(message as Detail)
      else if (message.type === ACK_DOWN) side.onDownAck(message as Ack)
      else failWith(`unexpected message ${String(data).slice(0, 80)}`)
    })
    // The sender of `up` events is spoke 0, the first to connect.
    if (sockets.length === 1) side.upReceiver = upReceiver
  })
  return side
}

/** Hub -> `spokes` spokes in another process, each getting every event. */
async function hubToSpokes(spokes: number, target: number): Promise<ThroughputResult> {
  const contenders: Contender[] = []
  try {
    for (const variant of VARIANTS) {
      const flow = new Flow(spokes)
      const side = await hubSide(variant, CHUNK, (error) => flow.fail(error))
      side.onDownAck = (ack) => flow.ack(ack.receiver, ack.count)
      const child = await startSpokes(variant, side.url, spokes, CHUNK, (error) => flow.fail(error))
      await side.connected(spokes)
      const name = WEBSOCKET_NAMES[variant]
      contenders.push({
        name,
        variant,
        window: (ms, minEvents) => pump(flow, side.sendDown, ms, minEvents),
        otherUsage: () => usageOf(child),
        check: async () => {
          flow.check()
          const { counts } = await countsOf(child)
          counts.forEach((count, i) => {
            expectCount(`${name}: spoke ${i}`, count, flow.sent)
          })
          expectCount(`${name}: spokes`, counts.length, spokes)
        },
        close: async () => {
          await child.close()
          await side.close()
        },
      })
    }
    const label = spokes === 1 ? 'websocket: hub -> 1 spoke' : `websocket: hub -> ${spokes} spokes`
    return await interleaved({
      label,
      title:
        `realistic: ${label} (spokes in another process), ~200-byte JSON envelope, ${CHUNK} per turn, ` +
        `<= ${IN_FLIGHT} in flight, acknowledged every ${CHUNK} on each spoke's socket ` +
        (spokes === 1 ? '(events/s)' : '(deliveries/s: events x spokes)'),
      unit: spokes === 1 ? 'event' : 'delivery',
      perEvent: spokes,
      target,
      sides: ['hub process', 'spokes process'],
      cpuNote: "CPU: the CPU time of the side's process per event sent",
      contenders,
    })
  } finally {
    for (const c of contenders) await c.close()
  }
}

/** One spoke in another process -> the hub's listener, acknowledged by the hub over the same socket. */
async function spokeToHub(): Promise<ThroughputResult> {
  const contenders: Contender[] = []
  try {
    for (const variant of VARIANTS) {
      let failure: Error | undefined
      const side = await hubSide(variant, CHUNK, (error) => {
        failure ??= error
      })
      const child = await startSpokes(variant, side.url, 1, CHUNK, (error) => {
        failure ??= error
      })
      await side.connected(1)
      const name = WEBSOCKET_NAMES[variant]
      contenders.push({
        name,
        variant,
        window: async (ms, minEvents) => {
          const answer = await child.ask({ type: 'pump', ms, minEvents })
          if (failure !== undefined) throw failure
          if (answer.type !== 'pumped') throw new Error(`unexpected answer ${answer.type}`)
          return answer
        },
        otherUsage: () => usageOf(child),
        check: async () => {
          if (failure !== undefined) throw failure
          const { sent } = await countsOf(child)
          expectCount(name, side.upReceiver!.count, sent)
        },
        close: async () => {
          await child.close()
          await side.close()
        },
      })
    }
    return await interleaved({
      label: 'websocket: spoke -> hub',
      title:
        `realistic: websocket spoke (another process) -> hub listener, ~200-byte JSON envelope, ${CHUNK} ` +
        `per turn, <= ${IN_FLIGHT} in flight, acknowledged every ${CHUNK} by the hub on the same socket ` +
        '(events/s)',
      unit: 'event',
      perEvent: 1,
      target: 2,
      sides: ['hub process', 'spoke process'],
      cpuNote: "CPU: the CPU time of the side's process per event sent",
      contenders,
    })
  } finally {
    for (const c of contenders) await c.close()
  }
}

// --- latency ---

/** One contender of a latency path: sends one event and resolves with µs one way and round trip. */
interface Sampler {
  sample(): Promise<{ oneWay: number; roundTrip: number }>
}

/** Samples interleaved, the order flipping every sample, one event in flight; warm-up not recorded. */
async function sampleAll(
  samplers: Sampler[],
): Promise<Array<{ oneWay: Percentiles; roundTrip: Percentiles }>> {
  const oneWay = samplers.map(() => [] as number[])
  const roundTrip = samplers.map(() => [] as number[])
  for (let n = 0; n < LATENCY_WARMUP + LATENCY_SAMPLES; n++) {
    const order = n % 2 === 0 ? samplers : [...samplers].reverse()
    for (const sampler of order) {
      const i = samplers.indexOf(sampler)
      const result = await sampler.sample()
      if (n < LATENCY_WARMUP) continue
      oneWay[i]!.push(result.oneWay)
      roundTrip[i]!.push(result.roundTrip)
    }
  }
  samplers.forEach((_, i) => {
    expectCount('latency samples', oneWay[i]!.length, LATENCY_SAMPLES)
  })
  return samplers.map((_, i) => ({ oneWay: percentiles(oneWay[i]!), roundTrip: percentiles(roundTrip[i]!) }))
}

/** A sender in this process: one event, then wait for its acknowledgement, which carries the arrival. */
function localSampler(flow: Flow, send: (first: number, count: number) => void, last: () => Ack): Sampler {
  return {
    sample: async () => {
      const start = nowMicros()
      send(flow.sent, 1)
      flow.sent++
      while (flow.acked < flow.sent) await flow.nextAck()
      const back = nowMicros()
      return { oneWay: last().at - start, roundTrip: back - start }
    },
  }
}

async function workerLatency(): Promise<LatencyResult> {
  const workers: StartedWorker[] = []
  try {
    const samplers: Sampler[] = []
    for (const variant of ['ours', 'naive'] as const) {
      const flow = new Flow(1)
      let last: Ack | undefined
      const worker = await startWorker(
        variant,
        1,
        (ack) => {
          last = ack
          flow.ack(ack.receiver, ack.count)
        },
        (error) => flow.fail(error),
      )
      workers.push(worker)
      samplers.push(localSampler(flow, worker.send, () => last!))
    }
    const [ours, raw] = await sampleAll(samplers)
    const row: LatencyRow = {
      label: 'worker: main -> worker',
      clock: 'process.hrtime, one clock for every thread',
      ours: ours!,
      raw: raw!,
    }
    printLatency('realistic: worker latency, unloaded (one event in flight, interleaved)', [row])
    return { kind: 'latency', rows: [row] }
  } finally {
    for (const worker of workers) await worker.close()
  }
}

/**
 * Whether stamps of this process and the spokes' process compare: each read of the child's clock must
 * fall between two reads of ours (CLOCK_MONOTONIC on Linux is one clock for every process).
 */
async function isClockShared(child: SpokesProcess): Promise<boolean> {
  for (let i = 0; i < 20; i++) {
    const before = nowMicros()
    const answer = await child.ask({ type: 'clock' })
    const after = nowMicros()
    if (answer.type !== 'clock' || answer.at < before || answer.at > after) return false
  }
  return true
}

async function websocketLatency(): Promise<LatencyResult> {
  const closers: Array<() => Promise<void>> = []
  try {
    const down: Sampler[] = []
    const up: Sampler[] = []
    let isShared = true
    for (const variant of ['ours', 'naive'] as const) {
      const flow = new Flow(1)
      let last: Ack | undefined
      const side = await hubSide(variant, 1, (error) => flow.fail(error))
      side.onDownAck = (ack) => {
        last = ack
        flow.ack(ack.receiver, ack.count)
      }
      const child = await startSpokes(variant, side.url, 1, 1, (error) => flow.fail(error))
      closers.push(
        () => child.close(),
        () => side.close(),
      )
      await side.connected(1)
      isShared &&= await isClockShared(child)
      down.push(localSampler(flow, side.sendDown, () => last!))
      up.push({
        sample: async () => {
          const answer = await child.ask({ type: 'sample' })
          flow.check()
          if (answer.type !== 'sample') throw new Error(`unexpected answer ${answer.type}`)
          return answer
        },
      })
    }
    const clock = isShared
      ? 'process.hrtime (CLOCK_MONOTONIC), checked to be one clock for both processes'
      : 'no clock both processes share: one way is half the round trip'
    const rows: LatencyRow[] = []
    for (const [label, samplers] of [
      ['websocket: hub -> spoke', down],
      ['websocket: spoke -> hub', up],
    ] as const) {
      const [ours, raw] = await sampleAll(samplers)
      const halve = (p: { oneWay: Percentiles; roundTrip: Percentiles }) =>
        isShared ? p : { ...p, oneWay: { p50: p.roundTrip.p50 / 2, p99: p.roundTrip.p99 / 2 } }
      rows.push({ label, clock, ours: halve(ours!), raw: halve(raw!) })
    }
    printLatency(
      'realistic: websocket latency, unloaded (one event in flight, interleaved; spokes in another process)',
      rows,
    )
    return { kind: 'latency', rows }
  } finally {
    for (const close of closers.reverse()) await close()
  }
}

function printLatency(title: string, rows: LatencyRow[]): void {
  const cell = (p: Percentiles) => `${p.p50.toFixed(1)} / ${p.p99.toFixed(1)}`.padStart(18)
  const lines = [`\n${title}, µs p50 / p99`]
  for (const row of rows) {
    lines.push(`  ${row.label} (one way: ${row.clock})`)
    lines.push(`    ${''.padEnd(12)}${'one way'.padStart(18)}${'round trip'.padStart(18)}`)
    lines.push(`    ${'eventwire'.padEnd(12)}${cell(row.ours.oneWay)}${cell(row.ours.roundTrip)}`)
    lines.push(`    ${'raw'.padEnd(12)}${cell(row.raw.oneWay)}${cell(row.raw.roundTrip)}`)
    const ratio = row.ours.oneWay.p50 / row.raw.oneWay.p50
    const rt = row.ours.roundTrip.p50 / row.raw.roundTrip.p50
    lines.push(
      `    ${'p50 ratio'.padEnd(12)}${`${ratio.toFixed(2)}×`.padStart(18)}${`${rt.toFixed(2)}×`.padStart(18)}` +
        `  target ≤${LATENCY_TARGET}× one way ${ratio <= LATENCY_TARGET ? 'ok' : '<-- ABOVE TARGET'}`,
    )
  }
  console.log(lines.join('\n'))
}

// --- the parent: one process per path, then the summary ---

/** Runs one path in a fresh process: this bundle again, with REALISTIC_PATH set. */
async function runPath(path: string, spokes: string, worker: string): Promise<PathResult> {
  const child = fork(process.argv[1]!, [], {
    env: { ...process.env, REALISTIC_PATH: path, REALISTIC_SPOKES: spokes, REALISTIC_WORKER: worker },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  })
  let result: PathResult | undefined
  child.on('message', (message: PathResult) => {
    result = message
  })
  const exit = await new Promise<number | string>((resolve) =>
    child.once('exit', (code, signal) => resolve(code ?? signal ?? 'unknown')),
  )
  if (exit !== 0 || result === undefined) throw new Error(`path ${path} failed (exit ${exit})`)
  return result
}

function printSummary(results: PathResult[]): void {
  const throughput = results.filter((r): r is ThroughputResult => r.kind === 'throughput')
  const latency = results.flatMap((r) => (r.kind === 'latency' ? r.rows : []))
  const lines = [
    '\nrealistic: summary (medians; ratios are medians of the per-round ratios, range in brackets)',
  ]
  if (throughput.length > 0) {
    lines.push(
      `  ${'path'.padEnd(28)}${'eventwire'.padStart(11)}${'raw naive'.padStart(11)}${'raw batched'.padStart(13)}` +
        `${'ours / naive'.padStart(24)}${'target'.padStart(17)}${'ceiling: batched / naive'.padStart(30)}`,
    )
    const range = (r: Ratio) => `${r.median.toFixed(2)}× (${r.min.toFixed(2)}–${r.max.toFixed(2)})`
    for (const r of throughput) {
      const goal = `≥${r.target}× ${r.oursToNaive.median >= r.target ? 'ok' : 'BELOW'}`
      lines.push(
        `  ${r.label.padEnd(28)}${si(r.rates.ours).padStart(11)}${si(r.rates.naive).padStart(11)}` +
          `${si(r.rates.batched).padStart(13)}${range(r.oursToNaive).padStart(24)}${goal.padStart(17)}` +
          `${range(r.ceiling).padStart(30)}`,
      )
    }
    lines.push('  (rates in events/s; the fan-out rows in deliveries/s)')
  }
  if (latency.length > 0) {
    lines.push(
      `  ${'latency, one way, µs'.padEnd(28)}${'eventwire p50 / p99'.padStart(22)}${'raw p50 / p99'.padStart(18)}` +
        `${'p50 ratio'.padStart(12)}${'target'.padStart(16)}`,
    )
    for (const row of latency) {
      const ratio = row.ours.oneWay.p50 / row.raw.oneWay.p50
      const cell = (p: Percentiles) => `${p.p50.toFixed(1)} / ${p.p99.toFixed(1)}`
      lines.push(
        `  ${row.label.padEnd(28)}${cell(row.ours.oneWay).padStart(22)}${cell(row.raw.oneWay).padStart(18)}` +
          `${`${ratio.toFixed(2)}×`.padStart(12)}${`≤${LATENCY_TARGET}× ${ratio <= LATENCY_TARGET ? 'ok' : 'ABOVE'}`.padStart(16)}`,
      )
    }
  }
  console.log(lines.join('\n'))
}

export async function run(): Promise<void> {
  const path = process.env.REALISTIC_PATH
  if (path !== undefined) {
    // One path, in its own process: the parent gets the result over IPC.
    process.on('disconnect', () => process.exit(1))
    const measure = PATHS[path]
    if (measure === undefined) throw new Error(`unknown path ${path}`)
    const result = await measure()
    await new Promise<void>((resolve, reject) =>
      process.send!(result, (error: Error | null) => (error ? reject(error) : resolve())),
    )
    return
  }
  const only = process.env.REALISTIC_ONLY?.split(',').filter((name) => name !== '')
  const unknown = only?.filter((name) => PATHS[name] === undefined) ?? []
  if (unknown.length > 0) throw new Error(`REALISTIC_ONLY: unknown path ${unknown.join(', ')}`)
  const spokes = await bundleChild('../bench/support/realistic-spokes.ts', 'realistic-spokes')
  const worker = await bundleChild('../bench/support/realistic-worker.ts', 'realistic-worker')
  try {
    const results: PathResult[] = []
    for (const name of Object.keys(PATHS)) {
      if (only === undefined || only.includes(name)) results.push(await runPath(name, spokes, worker))
    }
    printSummary(results)
  } finally {
    rmSync(spokes, { force: true })
    rmSync(worker, { force: true })
  }
}
