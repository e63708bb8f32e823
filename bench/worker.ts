/**
 * Workers: real worker_threads, in one process. Ours goes through `createWorkerEventTarget` (per-task
 * batching, one structured-clone `postMessage` per batch, peer interest routing) or the worker hub; raw
 * posts each event's object with its own `postMessage`. Every contender has its own workers and does the
 * same work: `CHUNK` events per task, counted by the receiving worker in shared memory. Latency, unloaded
 * (one event at a time): one way, dispatch on main -> the worker's listener (timed on the process-wide
 * monotonic clock both threads read), and the round trip back; ours beside a single raw postMessage.
 */
import { pathToFileURL } from 'node:url'
import { MessageChannel, type MessagePort, Worker } from 'node:worker_threads'
import {
  createWorkerEventTarget,
  createWorkerHubEventTarget,
  type WorkerEventTarget,
} from '../src/event-target-worker/index.js'
import { waitFor } from '../src/testing/index.js'
import { bundleForNode } from '../test/support/bundle.js'
import type { BenchWorkerSetup } from '../test/support/worker-fixtures/bench-worker.js'
import {
  type Contender,
  compare,
  expectCount,
  nextTask,
  type Percentiles,
  percentiles,
  untilCounted,
} from './harness.js'

/** Events dispatched per task: the burst a busy thread produces between two turns of its event loop. */
const CHUNK = 100

interface Spawned {
  worker: Worker
  control: MessagePort
  /** [received, target] */
  counter: Int32Array
  /** The echo's clock at the last ping's arrival. */
  arrival: BigInt64Array
}

let scriptFile: Promise<string> | undefined

function script(): Promise<string> {
  scriptFile ??= bundleForNode(
    new URL('../test/support/worker-fixtures/bench-worker.ts', import.meta.url),
    'bench-worker',
  )
  return scriptFile
}

/**
 * Starts one bench worker; `attach` runs in the same task as `new Worker` (a Worker's messages that
 * arrive before a listener exists are dropped), then this resolves once the worker script has started.
 */
async function spawn(
  role: BenchWorkerSetup['role'],
  flavor: BenchWorkerSetup['flavor'],
  attach: (worker: Worker) => void = () => {},
  port?: MessagePort,
): Promise<Spawned> {
  const { port1, port2 } = new MessageChannel()
  const shared = new SharedArrayBuffer(16)
  const setup: BenchWorkerSetup = {
    role,
    flavor,
    control: port2,
    shared,
    chunk: CHUNK,
    ...(port ? { port } : {}),
  }
  const worker = new Worker(pathToFileURL(await script()), {
    workerData: setup,
    transferList: port ? [port2, port] : [port2],
  })
  attach(worker)
  await new Promise<void>((resolve) => port1.once('message', () => resolve()))
  return {
    worker,
    control: port1,
    counter: new Int32Array(shared, 0, 2),
    arrival: new BigInt64Array(shared, 8, 1),
  }
}

const detailOf = (n: number) => ({ id: n, name: 'order', total: 42.5 })

interface Closable {
  close(): Promise<unknown>
}

// --- main -> worker listener ---

async function mainToWorker(closables: Closable[]): Promise<Contender[]> {
  let target: WorkerEventTarget | undefined
  const oursSink = await spawn('sink', 'ours', (worker) => {
    target = createWorkerEventTarget(worker)
  })
  await target!.ready
  const rawSink = await spawn('sink', 'raw')
  closables.push(
    target!,
    { close: () => oursSink.worker.terminate() },
    { close: () => rawSink.worker.terminate() },
  )

  const contender = (name: string, sink: Spawned, send: (detail: unknown) => void): Contender => {
    let sent = 0
    return {
      name,
      run: async (n) => {
        const done = untilCounted(sink, sent + n)
        for (let i = 0; i < n; i++) {
          send(detailOf(sent++))
          if (i % CHUNK === CHUNK - 1) await nextTask()
        }
        await done
      },
      check: (total) => expectCount(name, Atomics.load(sink.counter, 0), total),
    }
  }
  // The peer must know the worker listens to `tick` before it sends any (peer interest routing).
  await target!.flush()
  return [
    contender('eventwire worker', oursSink, (detail) =>
      target!.dispatchEvent(new CustomEvent('tick', { detail })),
    ),
    contender('raw postMessage', rawSink, (detail) => rawSink.worker.postMessage(detail)),
  ]
}

// --- worker -> worker ---

async function workerToWorker(closables: Closable[]): Promise<Contender[]> {
  // Ours: source and sink workers, both spokes of one worker hub on this thread.
  const hub = createWorkerHubEventTarget()
  const oursSink = await spawn('sink', 'ours', (worker) => hub.add(worker))
  const oursSource = await spawn('source', 'ours', (worker) => hub.add(worker))
  await waitFor(() => hub.remoteTypes().includes('tick'), { message: 'the sink subscribed' })
  // Raw relay: the source posts each event to this thread, which posts it on to the sink.
  let relaySink: Spawned | undefined
  relaySink = await spawn('sink', 'raw')
  const relaySource = await spawn('source', 'raw', (worker) =>
    worker.on('message', (message) => relaySink!.worker.postMessage(message)),
  )
  // Raw direct: the source posts each event straight to the sink over a MessageChannel (no relay).
  const direct = new MessageChannel()
  const directSink = await spawn('sink', 'raw', undefined, direct.port2)
  const directSource = await spawn('source', 'raw', undefined, direct.port1)
  closables.push(hub)
  for (const spawned of [oursSink, oursSource, relaySink, relaySource, directSink, directSource]) {
    closables.push({ close: () => spawned.worker.terminate() })
  }

  const contender = (name: string, source: Spawned, sink: Spawned): Contender => {
    let sent = 0
    return {
      name,
      run: async (n) => {
        const done = untilCounted(sink, sent + n)
        sent += n
        source.control.postMessage(n)
        await done
      },
      check: (total) => expectCount(name, Atomics.load(sink.counter, 0), total),
    }
  }
  return [
    contender('eventwire hub', oursSource, oursSink),
    contender('raw relay via main', relaySource, relaySink),
    contender('raw direct port', directSource, directSink),
  ]
}

// --- latency ---

interface RoundTrip {
  name: string
  echo: Spawned
  ping(): void
  onPong(listener: () => void): void
  /** Resolves once the other side knows about the pong listener. */
  settle?(): Promise<void>
}

async function roundTrips(closables: Closable[]): Promise<RoundTrip[]> {
  let target: WorkerEventTarget | undefined
  const oursEcho = await spawn('echo', 'ours', (worker) => {
    target = createWorkerEventTarget(worker)
  })
  const rawEcho = await spawn('echo', 'raw')
  closables.push(
    target!,
    { close: () => oursEcho.worker.terminate() },
    { close: () => rawEcho.worker.terminate() },
  )
  await target!.ready
  let n = 0
  return [
    {
      name: 'eventwire worker',
      echo: oursEcho,
      ping: () => target!.dispatchEvent(new CustomEvent('ping', { detail: detailOf(n++) })),
      onPong: (listener) => target!.addEventListener('pong', listener),
      settle: () => target!.flush(),
    },
    {
      name: 'raw postMessage',
      echo: rawEcho,
      ping: () => rawEcho.worker.postMessage(detailOf(n++)),
      onPong: (listener) => rawEcho.worker.on('message', listener),
    },
  ]
}

/**
 * Unloaded latency in µs, contenders interleaved sample by sample, each ping waiting for its pong: one way
 * (dispatch -> the worker's listener, both ends read `process.hrtime`, one clock for every thread of the
 * process) and the round trip.
 */
async function latency(
  trips: RoundTrip[],
  count: number,
): Promise<Array<{ oneWay: Percentiles; roundTrip: Percentiles }>> {
  const oneWay = trips.map(() => [] as number[])
  const roundTrip = trips.map(() => [] as number[])
  let wake: (() => void) | undefined
  for (const trip of trips) trip.onPong(() => wake?.())
  await Promise.all(trips.map((trip) => trip.settle?.()))
  for (let n = 0; n < count; n++) {
    const order = n % 2 === 0 ? trips : [...trips].reverse()
    for (const trip of order) {
      const index = trips.indexOf(trip)
      const answered = new Promise<void>((resolve) => {
        wake = resolve
      })
      const sent = process.hrtime.bigint()
      trip.ping()
      await answered
      const back = process.hrtime.bigint()
      oneWay[index]!.push(Number(Atomics.load(trip.echo.arrival, 0) - sent) / 1_000)
      roundTrip[index]!.push(Number(back - sent) / 1_000)
    }
  }
  return trips.map((_, i) => ({ oneWay: percentiles(oneWay[i]!), roundTrip: percentiles(roundTrip[i]!) }))
}

export async function run(): Promise<void> {
  const closables: Closable[] = []
  try {
    await compare({
      title: `worker: dispatch on main -> listener in a worker_threads worker (${CHUNK} events per task)`,
      unit: 'msg',
      batch: 5_000,
      contenders: await mainToWorker(closables),
      ratios: [{ ours: 'eventwire worker', theirs: 'raw postMessage', target: 3 }],
    })
    await compare({
      title: `worker: worker -> worker, ${CHUNK} events per task (ours through the worker hub)`,
      unit: 'msg',
      batch: 5_000,
      contenders: await workerToWorker(closables),
      ratios: [
        { ours: 'eventwire hub', theirs: 'raw relay via main', target: 1 },
        { ours: 'eventwire hub', theirs: 'raw direct port' },
      ],
    })
    const trips = await roundTrips(closables)
    const results = await latency(trips, 3_000)
    const cell = (p: Percentiles) => `${p.p50.toFixed(1)} / ${p.p99.toFixed(1)}`.padStart(16)
    console.log('\nworker: latency, unloaded (one event at a time, interleaved), µs p50 / p99')
    console.log(`  ${''.padEnd(26)}${'one way'.padStart(16)}${'round trip'.padStart(16)}`)
    trips.forEach((trip, i) => {
      console.log(`  ${trip.name.padEnd(26)}${cell(results[i]!.oneWay)}${cell(results[i]!.roundTrip)}`)
    })
    const ratio = (pick: (r: (typeof results)[number]) => Percentiles) =>
      `${(pick(results[0]!).p50 / pick(results[1]!).p50).toFixed(2)}×`.padStart(16)
    console.log(
      `  ${'p50 ratio eventwire / raw'.padEnd(26)}${ratio((r) => r.oneWay)}${ratio((r) => r.roundTrip)}` +
        '  (target ≤1.10×)',
    )
  } finally {
    for (const closable of closables.reverse()) await closable.close()
  }
}
