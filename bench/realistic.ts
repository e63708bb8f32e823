/**
 * Throughput and latency as users run them: a ~200-byte JSON envelope, a new object per event
 * (`{ type, id: crypto.randomUUID(), payload: { n, s: <100 characters>, ts: Date.now() } }`); sender and
 * receiver in different processes (WebSocket: the hub's process is the measured one, all spokes of a
 * variant in one child process; Redis and NATS: node A here, node B in a child process, through a server
 * started here; iroh: the hub here, the spoke in a child process) or threads (worker); flow control with
 * at most IN_FLIGHT events in flight, acknowledged every CHUNK by the receiver over the same socket, port,
 * stream or server as the data; eventwire with default options beside the naive raw loop (one
 * JSON.stringify and one send, postMessage, PUBLISH, NATS publish or iroh writeAll per event) and a
 * batched raw loop (one send per turn of the event loop; 16 events per postMessage; on iroh deflated),
 * the ceiling of what batching buys. Where users replace a peer with ours, the peer runs in the same
 * rounds: yoga's Redis target on the Redis path, Socket.IO on hub -> 1 spoke and spoke -> hub, Comlink
 * on the worker path (a method called per event, not awaited; see `comlinkSide`).
 *
 * Each path runs in a process of its own (this file, forked with REALISTIC_PATH set), so no path runs
 * beside the JIT state, heap or sockets of another; each variant of a path has its own fresh child
 * process or worker. Variants take turns in interleaved rounds, the order flipping every round, and every
 * receiver checks that every event arrives, in order: a variant that loses, doubles or reorders one fails
 * the run. REALISTIC_ONLY=worker,fanout-100 runs only the paths named (see PATHS); the iroh path is
 * skipped outside the loopback-only network namespace, the NATS path without nats-server on PATH.
 */
import { type ChildProcess, fork } from 'node:child_process'
import { once } from 'node:events'
import { rmSync } from 'node:fs'
import { createServer } from 'node:http'
import { performance } from 'node:perf_hooks'
import { pathToFileURL } from 'node:url'
import { MessageChannel, Worker } from 'node:worker_threads'
import { deflateRawSync } from 'node:zlib'

import { createRedisEventTarget as createYogaRedisEventTarget } from '@graphql-yoga/redis-event-target'
import { connect as natsConnect } from '@nats-io/transport-node'
import { EndpointTicket, type SendStream } from '@number0/iroh'
import * as Comlink from 'comlink'
import { Redis } from 'ioredis'
import { Server as SocketIoServer } from 'socket.io'
import { type WebSocket, WebSocketServer } from 'ws'
import { createIrohHubEventTarget } from '../src/event-target-iroh-hub/index.js'
import { createRedisEventTarget } from '../src/event-target-redis/index.js'
import { createWorkerEventTarget } from '../src/event-target-worker/index.js'
import { createEvent } from '../src/index.js'
import { waitFor } from '../src/testing/index.js'
import { encodeLengthPrefixed, LengthPrefixedDecoder } from '../src/transport/index.js'
import { bindHubEndpoint, loopbackAddr } from '../test/support/iroh.js'
import { RedisServer } from '../test/support/redis-server.js'
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
import { NatsServer, natsServerVersion } from './nats.js'
import { bundleChild, childExecArgv } from './support/child.js'
import { listen, startHub } from './support/eventwire.js'
import { type AckSink, type DetailSink, nodeEndpoint } from './support/realistic-comlink.js'
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
  natsSubject,
  nowMicros,
  pump,
  Receiver,
  type RedisVariant,
  redisChannel,
  type SpokeVariant,
  type ToSpokes,
  type ToWorker,
  UP,
  type Variant,
  WORKER_BATCH,
  type WorkerSetup,
  type WorkerVariant,
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
  /** For ours / naive; none where the target is set against the peer. */
  target: number | undefined
  /** The library users replace with ours, where the path has one (Redis: yoga's target; worker: Comlink). */
  peer?: { name: string; rate: number; oursToPeer: Ratio; target: number | undefined }
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

/** A path that cannot run here (iroh outside the loopback-only network namespace). */
interface SkippedResult {
  kind: 'skipped'
  label: string
  reason: string
}

type PathResult = ThroughputResult | LatencyResult | SkippedResult

// --- the paths ---

/** Each path, run in a process of its own. */
const PATHS: Record<string, () => Promise<PathResult>> = {
  worker: () => workerThroughput(),
  'hub-1': () => hubToSpokes(1, 2.5),
  'spoke-hub': () => spokeToHub(),
  'fanout-10': () => hubToSpokes(10, 1.5),
  'fanout-100': () => hubToSpokes(100, 1.5),
  redis: () => redisThroughput(),
  nats: () => natsThroughput(),
  iroh: () => irohThroughput(),
  'latency-worker': () => workerLatency(),
  'latency-websocket': () => websocketLatency(),
}

const spokesFile = () => process.env.REALISTIC_SPOKES!
const workerFile = () => process.env.REALISTIC_WORKER!
const redisFile = () => process.env.REALISTIC_REDIS!
const irohFile = () => process.env.REALISTIC_IROH!
const natsFile = () => process.env.REALISTIC_NATS!

// --- interleaved rounds ---

/** One variant of a throughput path, set up and ready to measure. */
interface Contender {
  readonly name: string
  /** Ours, the naive or batched raw loop, or the peer library users replace with ours. */
  readonly variant: Variant | 'peer'
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
  /** Printed for ours / naive, never asserted. */
  target?: number
  /** Printed for ours / the peer, never asserted. */
  peerTarget?: number
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
  const peer = contenders.find((c) => c.variant === 'peer')?.name
  report(
    {
      title: spec.title,
      unit: spec.unit,
      contenders: [],
      ratios: [
        ...(peer === undefined ? [] : [{ ours, theirs: peer, target: spec.peerTarget }]),
        { ours, theirs: naive, target: spec.target },
        { ours: batched, theirs: naive },
      ],
    },
    rates,
  )
  const [measured, other] = spec.sides
  const nameWidth = Math.max(34, ...contenders.map((c) => c.name.length + 2))
  const lines = [
    `  busy: share of the window the side's event loop was busy; ${spec.cpuNote}`,
    `  ${'contender'.padEnd(nameWidth)}${`${measured} busy`.padStart(18)}${'CPU µs/event'.padStart(14)}` +
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
    lines.push(`  ${c.name.padEnd(nameWidth)}${cell(load.measured, 18)}${cell(load.other, 20)}`)
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
    ...(peer === undefined
      ? {}
      : {
          peer: {
            name: peer,
            rate: median(rates.get(peer)!),
            oursToPeer: ratio(ours, peer),
            target: spec.peerTarget,
          },
        }),
  }
}

// --- worker: main thread -> worker ---

const WORKER_NAMES: Record<WorkerVariant, string> = {
  ours: 'eventwire worker target',
  naive: 'raw: postMessage per event',
  batched: `raw: ${WORKER_BATCH} events per postMessage`,
  comlink: 'Comlink proxy.take, not awaited',
}

interface StartedWorker {
  send(first: number, count: number): void
  /**
   * Resolves once the worker has answered every call sent so far (Comlink only: the other variants get
   * no answers). The window waits for it, so that answers its events caused are handled in its own time.
   */
  drained?: () => Promise<void>
  usage(): Usage
  /** Events the worker has taken, as it says on its control port. */
  count(): Promise<number>
  close(): Promise<void>
}

interface ComlinkSide {
  send: StartedWorker['send']
  drained(): Promise<void>
  release(): void
}

/**
 * Comlink's side on the main thread, as a user streaming events to a worker writes it: `remote.take(detail)`
 * on `Comlink.wrap(nodeEndpoint(worker))` per event, not awaited. Comlink has no one-way call, so the
 * worker answers each call and the main thread handles each answer; that is part of what a call costs.
 *
 * The acknowledgements come back as Comlink calls too: the main thread exposes `{ ack }` with
 * `Comlink.expose` on the same endpoint, and the worker calls it through `Comlink.wrap(nodeEndpoint(
 * parentPort))`. A Comlink user who does not want to drop to raw `postMessage` would write it this way or
 * pass a `Comlink.proxy(callback)`; the callback is the better known of the two, but Comlink sends a
 * proxied callback as a new `MessageChannel`, so the acknowledgements would come back on a second port,
 * where they could overtake the answers still queued on the first. The other variants acknowledge on the
 * data's own port; so does this one. Comlink 4.4 handles both directions on one endpoint: `expose`
 * ignores messages without a request type (the answers to this side's calls), and `wrap` ignores ids it
 * did not send.
 */
function comlinkSide(worker: Worker, onAck: (ack: Ack) => void): ComlinkSide {
  const endpoint = nodeEndpoint(worker)
  const remote = Comlink.wrap<DetailSink>(endpoint)
  const acks: AckSink = { ack: (ack) => onAck(ack) }
  Comlink.expose(acks, endpoint)
  return {
    send: (first, count) => {
      for (let i = 0; i < count; i++) void remote.take(detailOf(DOWN, first + i))
    },
    // The worker answers in order on one port, so the answer to this call comes after every earlier one.
    // One awaited call per window, where tracking each promise would add work per event no user does.
    drained: () => remote.drain(),
    // Tells the worker's `expose` to stop listening; the answer is never awaited (the worker is stopped).
    release: () => remote[Comlink.releaseProxy](),
  }
}

/** A fresh receiving worker of one variant; `onAck` gets its acknowledgements, from the same port. */
async function startWorker(
  variant: WorkerVariant,
  ackEvery: number,
  onAck: (ack: Ack) => void,
  fail: (error: Error) => void,
): Promise<StartedWorker> {
  const { port1, port2 } = new MessageChannel()
  const setup: WorkerSetup = { variant, ackEvery, control: port2 }
  const worker = new Worker(pathToFileURL(workerFile()), { workerData: setup, transferList: [port2] })
  // In the same task as `new Worker`: a worker's messages that arrive before a listener exists are lost.
  const target = variant === 'ours' ? createWorkerEventTarget(worker) : undefined
  const comlink = variant === 'comlink' ? comlinkSide(worker, onAck) : undefined
  if (target !== undefined) {
    target.addEventListener(ACK_DOWN, (event) => onAck((event as CustomEvent<Ack>).detail))
  } else if (comlink === undefined) {
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
  if (comlink !== undefined) {
    send = comlink.send
  } else if (target !== undefined) {
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
    ...(comlink === undefined ? {} : { drained: comlink.drained }),
    usage: () => ({ ...worker.performance.eventLoopUtilization(), cpu: undefined }),
    count: () =>
      new Promise((resolve) => {
        answer = resolve
        port1.postMessage({ type: 'counts' } satisfies ToWorker)
      }),
    close: async () => {
      await target?.close()
      comlink?.release()
      port1.close()
      await worker.terminate()
    },
  }
}

async function workerThroughput(): Promise<ThroughputResult> {
  const contenders: Contender[] = []
  for (const variant of [...VARIANTS, 'comlink'] as const) {
    const flow = new Flow(1)
    const worker = await startWorker(
      variant,
      CHUNK,
      (ack) => flow.ack(ack.receiver, ack.count),
      (error) => flow.fail(error),
    )
    const { drained } = worker
    contenders.push({
      name: WORKER_NAMES[variant],
      variant: variant === 'comlink' ? 'peer' : variant,
      window:
        drained === undefined
          ? (ms, minEvents) => pump(flow, worker.send, ms, minEvents)
          : async (ms, minEvents) => {
              const start = performance.now()
              const { events } = await pump(flow, worker.send, ms, minEvents)
              await drained()
              return { events, ms: performance.now() - start }
            },
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
function startSpokes(
  variant: SpokeVariant,
  url: string,
  count: number,
  ackEvery: number,
  fail: (error: Error) => void,
): Promise<SpokesProcess> {
  return startChild(spokesFile(), [variant, url, String(count), String(ackEvery)], `${variant} spokes`, fail)
}

/**
 * Forks `file` (a bundled child script) with `args`; resolves once it says `ready`. `what` names it in
 * errors. The Redis and iroh receivers answer the same commands as the spokes' process.
 */
async function startChild(
  file: string,
  args: string[],
  what: string,
  fail: (error: Error) => void,
): Promise<SpokesProcess> {
  const child: ChildProcess = fork(file, args, {
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
    else if (message.type === 'error') failed(new Error(`${what}: ${message.message}`))
    else {
      const waiting = pending
      pending = undefined
      waiting?.resolve(message)
    }
  })
  child.on('exit', (code, signal) => failed(new Error(`${what}: process exited (${code ?? signal})`)))
  const check = () => {
    if (failure !== undefined) throw failure
  }
  const timer = setTimeout(() => failed(new Error(`${what}: not ready after 60 s`)), 60_000)
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

const WEBSOCKET_NAMES: Record<SpokeVariant, string> = {
  ours: 'eventwire hub and clients',
  naive: 'raw ws: one send per event',
  batched: 'raw ws: one send per turn',
  socketio: 'Socket.IO server and clients',
}

/**
 * The variants of a WebSocket path, with Socket.IO as the peer where one hub talks to one client (its
 * fan-out is measured in one process by bench/socketio.ts).
 */
const withSocketIo: readonly SpokeVariant[] = [...VARIANTS, 'socketio']

/** A contender's role: Socket.IO is the peer. */
const roleOf = (variant: SpokeVariant): Contender['variant'] => (variant === 'socketio' ? 'peer' : variant)

/**
 * The hub's side of a variant. `ackEvery` is how often it acknowledges `up` events. Ours: a hub with
 * default options on a plain Node server; raw: a `ws` server whose `down` loop stringifies each event
 * once and sends it to every socket (naive) or stringifies a turn's events as one array (batched).
 */
async function hubSide(
  variant: SpokeVariant,
  ackEvery: number,
  fail: (error: Error) => void,
): Promise<HubSide> {
  const failWith = (message: string) => fail(new Error(`${variant} hub: ${message}`))
  if (variant === 'socketio') return socketIoSide(ackEvery, failWith)
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

/**
 * Socket.IO's side, with its defaults, on a plain Node server: `io.emit` per event (Socket.IO encodes the
 * packet once and writes it to every socket), a handler per event type on each socket, and
 * `socket.emit` for the acknowledgements of `up` events. Its clients use `{ transports: ['websocket'] }`.
 */
async function socketIoSide(ackEvery: number, failWith: (message: string) => void): Promise<HubSide> {
  const server = createServer()
  const io = new SocketIoServer(server)
  const port = await listen(server)
  let count = 0
  const side: HubSide = {
    url: `http://127.0.0.1:${port}`,
    sendDown: (first, n) => {
      for (let i = 0; i < n; i++) io.emit(DOWN, detailOf(DOWN, first + i))
    },
    onDownAck: () => {},
    upReceiver: undefined,
    connected: async (spokes) => {
      await waitFor(() => count === spokes, { timeoutMs: 60_000 })
    },
    close: async () => {
      io.disconnectSockets(true)
      await io.close()
      server.closeAllConnections()
    },
  }
  io.on('connection', (socket) => {
    const upReceiver = new Receiver(0, ACK_UP, ackEvery, (ack) => socket.emit(ACK_UP, ack), failWith)
    socket.on(UP, (detail: Detail) => upReceiver.take(detail))
    socket.on(ACK_DOWN, (ack: Ack) => side.onDownAck(ack))
    // The sender of `up` events is spoke 0, the first to connect.
    if (count++ === 0) side.upReceiver = upReceiver
  })
  return side
}

/** Hub -> `spokes` spokes in another process, each getting every event. */
async function hubToSpokes(spokes: number, target: number): Promise<ThroughputResult> {
  const contenders: Contender[] = []
  try {
    for (const variant of spokes === 1 ? withSocketIo : VARIANTS) {
      const flow = new Flow(spokes)
      const side = await hubSide(variant, CHUNK, (error) => flow.fail(error))
      side.onDownAck = (ack) => flow.ack(ack.receiver, ack.count)
      const child = await startSpokes(variant, side.url, spokes, CHUNK, (error) => flow.fail(error))
      await side.connected(spokes)
      const name = WEBSOCKET_NAMES[variant]
      contenders.push({
        name,
        variant: roleOf(variant),
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
    for (const variant of withSocketIo) {
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
        variant: roleOf(variant),
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

// --- Redis: node A (this process) -> node B (another process), through one redis-server ---

const REDIS_NAMES: Record<RedisVariant, string> = {
  ours: 'eventwire redis target',
  yoga: 'yoga redis-event-target',
  naive: 'raw ioredis: PUBLISH per event',
  batched: 'raw ioredis: PUBLISH per turn',
}

/** Node A of one variant: sends `down` events, takes node B's acknowledgements from Redis. */
interface RedisNode {
  sendDown(first: number, count: number): void
  close(): Promise<void>
}

/** Two ioredis connections, connected (a SUBSCRIBE before ioredis's ready check breaks that check). */
async function connectedRedis(url: string, fail: (error: Error) => void): Promise<[Redis, Redis]> {
  const clients: [Redis, Redis] = [new Redis(url), new Redis(url)]
  for (const client of clients) client.on('error', (error) => fail(new Error(`node A: ${error.message}`)))
  await Promise.all(clients.map((client) => (client.status === 'ready' ? undefined : once(client, 'ready'))))
  return clients
}

/**
 * Node A of a variant, in this process. Ours: `createRedisEventTarget({ url, prefix })` with default
 * options; yoga: its target on two connections; raw: one ioredis publisher whose loop stringifies each
 * event and publishes it (naive) or publishes the turn's events as one JSON array (batched), and one
 * subscriber for the acknowledgements.
 */
async function redisNodeA(
  variant: RedisVariant,
  url: string,
  onAck: (ack: Ack) => void,
  fail: (error: Error) => void,
): Promise<RedisNode> {
  if (variant === 'ours') {
    const target = createRedisEventTarget({
      url,
      prefix: `${variant}:`,
      onError: (error) => fail(new Error(`node A: ${error.code} ${error.message}`)),
    })
    target.addEventListener(ACK_DOWN, (event) => onAck((event as CustomEvent<Ack>).detail))
    await target.ready
    await target.flush()
    return {
      sendDown: (first, count) => {
        for (let i = 0; i < count; i++) target.dispatchEvent(createEvent(DOWN, detailOf(DOWN, first + i)))
      },
      close: async () => {
        const { dropped } = target.stats()
        await target.close()
        if (dropped !== 0) throw new Error(`sanity check failed: node A dropped ${dropped} events`)
      },
    }
  }
  const [publisher, subscriber] = await connectedRedis(url, fail)
  const close = async () => {
    publisher.disconnect()
    subscriber.disconnect()
  }
  const channel = redisChannel(variant, DOWN)
  if (variant === 'yoga') {
    const target = createYogaRedisEventTarget({ publishClient: publisher, subscribeClient: subscriber })
    target.addEventListener(redisChannel(variant, ACK_DOWN), (event) =>
      onAck((event as CustomEvent<Ack>).detail),
    )
    return {
      sendDown: (first, count) => {
        for (let i = 0; i < count; i++) {
          target.dispatchEvent(new CustomEvent(channel, { detail: detailOf(DOWN, first + i) }))
        }
      },
      close,
    }
  }
  subscriber.on('message', (_channel: string, message: string) => onAck(JSON.parse(message) as Ack))
  await subscriber.subscribe(redisChannel(variant, ACK_DOWN))
  return {
    sendDown:
      variant === 'naive'
        ? (first, count) => {
            for (let i = 0; i < count; i++)
              void publisher.publish(channel, JSON.stringify(detailOf(DOWN, first + i)))
          }
        : (first, count) => {
            const batch: Detail[] = []
            for (let i = 0; i < count; i++) batch.push(detailOf(DOWN, first + i))
            void publisher.publish(channel, JSON.stringify(batch))
          },
    close,
  }
}

/**
 * Node A (this process) -> node B (another process) through one redis-server started here; node B
 * acknowledges through the same server, on a channel of its own. Each variant has its own connections
 * and its own channels, so the idle ones cost the server nothing but their subscriptions.
 */
async function redisThroughput(): Promise<ThroughputResult> {
  const server = await RedisServer.start()
  const admin = new Redis(server.url)
  const contenders: Contender[] = []
  try {
    for (const variant of ['ours', 'yoga', 'naive', 'batched'] as const) {
      const flow = new Flow(1)
      const nodeA = await redisNodeA(
        variant,
        server.url,
        (ack) => flow.ack(ack.receiver, ack.count),
        (error) => flow.fail(error),
      )
      const child = await startChild(
        redisFile(),
        [variant, String(server.port), String(CHUNK)],
        `${variant} node B`,
        (error) => flow.fail(error),
      )
      // Yoga's targets do not expose their SUBSCRIBE: every variant waits until Redis counts one
      // subscriber on each of its two channels (node B's for data, node A's for acknowledgements).
      for (const type of [DOWN, ACK_DOWN]) {
        const channel = redisChannel(variant, type)
        await waitFor(async () => (await admin.pubsub('NUMSUB', channel))[1] === 1, {
          timeoutMs: 10_000,
          message: `a subscriber on ${channel}`,
        })
      }
      const name = REDIS_NAMES[variant]
      contenders.push({
        name,
        variant: variant === 'yoga' ? 'peer' : variant,
        window: (ms, minEvents) => pump(flow, nodeA.sendDown, ms, minEvents),
        otherUsage: () => usageOf(child),
        check: async () => {
          flow.check()
          const { counts } = await countsOf(child)
          expectCount(name, counts[0] ?? -1, flow.sent)
        },
        close: async () => {
          await child.close()
          await nodeA.close()
        },
      })
    }
    return await interleaved({
      label: 'redis: A -> B',
      title:
        `realistic: redis node A -> node B (another process), one redis-server, ~200-byte JSON envelope, ` +
        `${CHUNK} per turn, <= ${IN_FLIGHT} in flight, acknowledged every ${CHUNK} through Redis (events/s)`,
      unit: 'event',
      perEvent: 1,
      peerTarget: 2,
      sides: ['node A process', 'node B process'],
      cpuNote: "CPU: the CPU time of the side's process per event sent (redis-server not counted)",
      contenders,
    })
  } finally {
    for (const c of contenders) await c.close()
    admin.disconnect()
    await server.stop()
  }
}

// --- NATS: node A (this process) -> node B (another process), through a broker ---

const NATS_NAMES: Record<Variant, string> = {
  ours: 'eventwire redis target',
  naive: 'NATS: publish per event',
  batched: 'NATS: publish per turn',
}

/**
 * Node A of a NATS variant: one connection publishes `JSON.stringify(detail)` per event (naive, what a
 * NATS user writes) or the turn's events as one JSON array (batched), and is subscribed to node B's
 * acknowledgements.
 */
async function natsNodeA(
  variant: Variant,
  server: NatsServer,
  onAck: (ack: Ack) => void,
  fail: (error: Error) => void,
): Promise<RedisNode> {
  const connection = await natsConnect({ servers: server.url, reconnect: false })
  connection.subscribe(natsSubject(variant, ACK_DOWN), {
    callback: (error, message) => {
      if (error !== null) fail(new Error(`node A: ${error.message}`))
      else onAck(message.json<Ack>())
    },
  })
  await connection.flush()
  const subject = natsSubject(variant, DOWN)
  return {
    sendDown:
      variant === 'naive'
        ? (first, count) => {
            for (let i = 0; i < count; i++)
              connection.publish(subject, JSON.stringify(detailOf(DOWN, first + i)))
          }
        : (first, count) => {
            const batch: Detail[] = []
            for (let i = 0; i < count; i++) batch.push(detailOf(DOWN, first + i))
            connection.publish(subject, JSON.stringify(batch))
          },
    close: () => connection.close(),
  }
}

/**
 * Node A (this process) -> node B (another process) through a broker: ours is the Redis target through a
 * redis-server (as in bench/nats.ts: which broker path moves events between processes faster), against
 * NATS through a nats-server, both started here. NATS's naive loop is NATS used as its docs show; its
 * batched loop is the ceiling.
 */
async function natsThroughput(): Promise<PathResult> {
  const label = 'nats: A -> B'
  if (natsServerVersion() === undefined) {
    return { kind: 'skipped', label, reason: 'nats-server is not on PATH (apt-get install nats-server)' }
  }
  const redis = await RedisServer.start()
  const nats = await NatsServer.start()
  const contenders: Contender[] = []
  try {
    for (const variant of VARIANTS) {
      const flow = new Flow(1)
      const onAck = (ack: Ack) => flow.ack(ack.receiver, ack.count)
      const fail = (error: Error) => flow.fail(error)
      const nodeA =
        variant === 'ours'
          ? await redisNodeA(variant, redis.url, onAck, fail)
          : await natsNodeA(variant, nats, onAck, fail)
      const child =
        variant === 'ours'
          ? await startChild(redisFile(), [variant, String(redis.port), String(CHUNK)], 'ours node B', fail)
          : await startChild(natsFile(), [variant, nats.url, String(CHUNK)], `${variant} node B`, fail)
      const name = NATS_NAMES[variant]
      contenders.push({
        name,
        variant,
        window: (ms, minEvents) => pump(flow, nodeA.sendDown, ms, minEvents),
        otherUsage: () => usageOf(child),
        check: async () => {
          flow.check()
          const { counts } = await countsOf(child)
          expectCount(name, counts[0] ?? -1, flow.sent)
        },
        close: async () => {
          await child.close()
          await nodeA.close()
        },
      })
    }
    return await interleaved({
      label,
      title:
        `realistic: node A -> node B (another process) through a broker (ours: redis-server; NATS: ` +
        `nats-server), ~200-byte JSON envelope, ${CHUNK} per turn, <= ${IN_FLIGHT} in flight, acknowledged ` +
        `every ${CHUNK} through the broker (events/s)`,
      unit: 'event',
      perEvent: 1,
      sides: ['node A process', 'node B process'],
      cpuNote: "CPU: the CPU time of the side's process per event sent (the brokers not counted)",
      contenders,
    })
  } finally {
    for (const c of contenders) await c.close()
    await nats.stop()
    await redis.stop()
  }
}

// --- iroh: hub (this process) -> spoke (another process) ---

const IROH_NAMES: Record<Variant, string> = {
  ours: 'eventwire iroh hub and spoke',
  naive: 'raw iroh: writeAll per event',
  batched: 'raw iroh: writeAll per turn, deflated',
}

const utf8 = new TextEncoder()
const fromUtf8 = new TextDecoder()

/** The binding moves bytes as `Array<number>`: an indexed loop is the cheapest conversion. */
function toNumbers(bytes: Uint8Array): number[] {
  const out = new Array<number>(bytes.length)
  for (let i = 0; i < bytes.length; i++) out[i] = bytes[i]!
  return out
}

/** One length-prefixed JSON frame as the binding takes it. */
const frameOf = (value: unknown): number[] =>
  toNumbers(encodeLengthPrefixed(utf8.encode(JSON.stringify(value))))

/**
 * The same, deflated (raw, level 1) and flagged as such. The binding costs about 100 ns per byte on each
 * side, so a batch that crosses it uncompressed is no ceiling: ours, which compresses its batches by
 * default, beat one by about 2× (70.6 k against 30.5 k events/s, the spoke's process 94% busy reading).
 */
const deflatedFrameOf = (value: unknown): number[] =>
  toNumbers(encodeLengthPrefixed(deflateRawSync(utf8.encode(JSON.stringify(value)), { level: 1 }), true))

/**
 * Writes in order on one stream: each `writeAll` starts once the one before has resolved. The binding
 * does not keep the order of writes issued concurrently (issued without waiting, frames arrived out of
 * order here), so this is the least a correct raw sender does.
 */
function orderedWriter(send: SendStream, fail: (error: unknown) => void): (bytes: number[]) => void {
  let tail = Promise.resolve()
  return (bytes) => {
    tail = tail.then(() => send.writeAll(bytes)).catch(fail)
  }
}

/**
 * The hub's side of a variant, on an endpoint of its own. Ours: `createIrohHubEventTarget({ endpoint })`
 * with default options. Raw: the first stream the spoke opens; the naive loop writes each event as its
 * own frame with its own `writeAll` (one after another, see `orderedWriter`); the batched loop writes the
 * turn's events as one deflated frame holding a JSON array (see `deflatedFrameOf`).
 */
async function irohHubSide(
  variant: Variant,
  onAck: (ack: Ack) => void,
  fail: (error: Error) => void,
): Promise<{
  ticket: string
  connected(): Promise<void>
  sendDown: HubSide['sendDown']
  close(): Promise<void>
}> {
  const endpoint = await bindHubEndpoint()
  const ticket = EndpointTicket.fromAddr(loopbackAddr(endpoint)).toString()
  if (variant === 'ours') {
    const hub = createIrohHubEventTarget({
      endpoint,
      onError: (error) => fail(new Error(`hub: ${error.code} ${error.message}`)),
    })
    hub.addEventListener(ACK_DOWN, (event) => onAck((event as CustomEvent<Ack>).detail))
    return {
      ticket,
      connected: () => hub.whenSubscribed(DOWN, { count: 1, timeoutMs: 60_000 }),
      sendDown: (first, count) => {
        for (let i = 0; i < count; i++) hub.dispatchEvent(createEvent(DOWN, detailOf(DOWN, first + i)))
      },
      close: async () => {
        const { dropped } = hub.stats()
        await hub.close()
        await endpoint.close()
        if (dropped !== 0) throw new Error(`sanity check failed: the hub dropped ${dropped} events`)
      },
    }
  }
  let isClosing = false
  const accepted = (async () => {
    const incoming = await endpoint.acceptNext()
    const connection = await (await incoming!.accept()).connect()
    return connection.acceptBi()
  })()
  let write: ((bytes: number[]) => void) | undefined
  let reading: Promise<void> | undefined
  return {
    ticket,
    connected: async () => {
      const stream = await accepted
      write = orderedWriter(stream.send, (error) => {
        if (!isClosing) fail(new Error(`hub: ${error instanceof Error ? error.message : String(error)}`))
      })
      const recv = stream.recv
      const decoder = new LengthPrefixedDecoder(1 << 20)
      reading = (async () => {
        try {
          for (;;) {
            const data = await recv.read(64 * 1024)
            if (data.length === 0) return
            const error = decoder.push(new Uint8Array(data), (payload) => {
              // The spoke's first frame is empty: it only announces the stream.
              if (payload.length > 0) onAck(JSON.parse(fromUtf8.decode(payload)) as Ack)
            })
            if (error !== undefined) fail(error)
          }
        } catch (error) {
          if (!isClosing) fail(new Error(`hub: ${error instanceof Error ? error.message : String(error)}`))
        }
      })()
    },
    sendDown:
      variant === 'naive'
        ? (first, count) => {
            for (let i = 0; i < count; i++) write!(frameOf(detailOf(DOWN, first + i)))
          }
        : (first, count) => {
            const batch: Detail[] = []
            for (let i = 0; i < count; i++) batch.push(detailOf(DOWN, first + i))
            write!(deflatedFrameOf(batch))
          },
    close: async () => {
      isClosing = true
      await endpoint.close()
      await reading
    },
  }
}

/** Hub -> one spoke in another process, over real iroh endpoints on loopback. */
async function irohThroughput(): Promise<PathResult> {
  const label = 'iroh: hub -> spoke'
  if (process.env.EVENTWIRE_NETNS !== '1') {
    return { kind: 'skipped', label, reason: 'outside the loopback-only network namespace of npm run bench' }
  }
  const contenders: Contender[] = []
  try {
    for (const variant of VARIANTS) {
      const flow = new Flow(1)
      const side = await irohHubSide(
        variant,
        (ack) => flow.ack(ack.receiver, ack.count),
        (error) => flow.fail(error),
      )
      const child = await startChild(
        irohFile(),
        [variant, side.ticket, String(CHUNK)],
        `${variant} spoke`,
        (error) => flow.fail(error),
      )
      await side.connected()
      const name = IROH_NAMES[variant]
      contenders.push({
        name,
        variant,
        window: (ms, minEvents) => pump(flow, side.sendDown, ms, minEvents),
        otherUsage: () => usageOf(child),
        check: async () => {
          flow.check()
          const { counts } = await countsOf(child)
          expectCount(name, counts[0] ?? -1, flow.sent)
        },
        close: async () => {
          await child.close()
          await side.close()
        },
      })
    }
    return await interleaved({
      label,
      title:
        `realistic: ${label} (spoke in another process), real endpoints on loopback, ~200-byte JSON ` +
        `envelope, ${CHUNK} per turn, <= ${IN_FLIGHT} in flight, acknowledged every ${CHUNK} on the same ` +
        'stream (events/s)',
      unit: 'event',
      perEvent: 1,
      target: 2,
      sides: ['hub process', 'spoke process'],
      cpuNote: "CPU: the CPU time of the side's process per event sent (QUIC's threads included)",
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

/** The bundled scripts of the child processes and workers, by the variable that names them to a path. */
type ChildFiles = Record<
  'REALISTIC_SPOKES' | 'REALISTIC_WORKER' | 'REALISTIC_REDIS' | 'REALISTIC_IROH' | 'REALISTIC_NATS',
  string
>

/** Runs one path in a fresh process: this bundle again, with REALISTIC_PATH set. */
async function runPath(path: string, files: ChildFiles): Promise<PathResult> {
  const child = fork(process.argv[1]!, [], {
    env: { ...process.env, REALISTIC_PATH: path, ...files },
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
    const goal = (ratio: Ratio, target: number | undefined) =>
      target === undefined ? '—' : `≥${target}× ${ratio.median >= target ? 'ok' : 'BELOW'}`
    for (const r of throughput) {
      lines.push(
        `  ${r.label.padEnd(28)}${si(r.rates.ours).padStart(11)}${si(r.rates.naive).padStart(11)}` +
          `${si(r.rates.batched).padStart(13)}${range(r.oursToNaive).padStart(24)}` +
          `${goal(r.oursToNaive, r.target).padStart(17)}${range(r.ceiling).padStart(30)}`,
      )
      if (r.peer !== undefined) {
        lines.push(
          `  ${'  ours / peer'.padEnd(28)}${si(r.peer.rate).padStart(35)}${range(r.peer.oursToPeer).padStart(24)}` +
            `${goal(r.peer.oursToPeer, r.peer.target).padStart(17)}  (peer: ${r.peer.name})`,
        )
      }
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
  for (const r of results) {
    if (r.kind === 'skipped') lines.push(`  ${r.label}: skipped (${r.reason})`)
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
  const files: ChildFiles = {
    REALISTIC_SPOKES: await bundleChild('../bench/support/realistic-spokes.ts', 'realistic-spokes'),
    REALISTIC_WORKER: await bundleChild('../bench/support/realistic-worker.ts', 'realistic-worker'),
    REALISTIC_REDIS: await bundleChild('../bench/support/realistic-redis.ts', 'realistic-redis'),
    REALISTIC_IROH: await bundleChild('../bench/support/realistic-iroh.ts', 'realistic-iroh'),
    REALISTIC_NATS: await bundleChild('../bench/support/realistic-nats.ts', 'realistic-nats'),
  }
  try {
    const results: PathResult[] = []
    for (const name of Object.keys(PATHS)) {
      if (only === undefined || only.includes(name)) results.push(await runPath(name, files))
    }
    printSummary(results)
  } finally {
    for (const file of Object.values(files)) rmSync(file, { force: true })
  }
}
