/**
 * Against Comlink, the library our users reach for to call into worker threads: real worker_threads in
 * one process, each contender with its own worker running the same service (test/support/worker-fixtures/
 * comlink-worker.ts). Ours is `request(target, 'double', n)` on `createWorkerEventTarget(worker)`, answered
 * by `respond` in the worker; theirs is `await proxy.double(n)` on `Comlink.wrap(nodeEndpoint(worker))`,
 * served by `Comlink.expose`. Three comparisons: sequential round trips (one call in flight), concurrent
 * round trips (`CONCURRENCY` in flight through `Promise.all`), and one-way calls main -> worker
 * (`CHUNK` per task, counted by the worker in shared memory). Every answer is checked.
 */
import { pathToFileURL } from 'node:url'
import { MessageChannel, type MessagePort, Worker } from 'node:worker_threads'
import * as Comlink from 'comlink'
import { createWorkerEventTarget, type WorkerEventTarget } from '../src/event-target-worker/index.js'
import { request } from '../src/index.js'
import { bundleForNode } from '../test/support/bundle.js'
import {
  type ComlinkWorkerSetup,
  type DoubleService,
  nodeEndpoint,
} from '../test/support/worker-fixtures/comlink-worker.js'
import { type Contender, compare, expectCount, nextTask, untilCounted } from './harness.js'

/** Requests in flight at once in the concurrent comparison: a page of lookups fired together. */
const CONCURRENCY = 100
/** One-way calls per task: the burst a busy thread produces between two turns of its event loop. */
const CHUNK = 100

interface Spawned {
  worker: Worker
  control: MessagePort
  /** [ticks received, target, ticks out of order] */
  counter: Int32Array
}

/**
 * Starts one worker; `attach` runs in the same task as `new Worker` (a Worker's messages that arrive
 * before a listener exists are dropped), then this resolves once the worker's service is up.
 */
async function spawn(
  script: string,
  role: ComlinkWorkerSetup['role'],
  attach: (worker: Worker) => void,
): Promise<Spawned> {
  const { port1, port2 } = new MessageChannel()
  const shared = new SharedArrayBuffer(12)
  const setup: ComlinkWorkerSetup = { role, control: port2, shared }
  const worker = new Worker(pathToFileURL(script), { workerData: setup, transferList: [port2] })
  attach(worker)
  await new Promise<void>((resolve) => port1.once('message', () => resolve()))
  return { worker, control: port1, counter: new Int32Array(shared) }
}

/** Asks the worker to close its side (our target; nothing for Comlink) and waits for its answer. */
function closeRemote(spawned: Spawned): Promise<void> {
  return new Promise((resolve) => {
    spawned.control.on('message', (message: unknown) => message === 'closed' && resolve())
    spawned.control.postMessage('close')
  })
}

/** Stops the worker and closes this side of its control channel. */
async function stop(spawned: Spawned): Promise<void> {
  await spawned.worker.terminate()
  spawned.control.close()
}

/** One side of every comparison: how to call `double` and `tick`, and the worker behind it. */
interface Side {
  readonly spawned: Spawned
  double(n: number): Promise<number>
  tick(n: number): void
  /** Resolves once every one-way call made so far has finished on the sending side. */
  drained(): Promise<void>
  /** One-way calls whose completion the sending side saw (Comlink answers even a void method). */
  completed(): number
}

async function eventwireSide(script: string): Promise<Side & { target: WorkerEventTarget }> {
  let target: WorkerEventTarget | undefined
  const spawned = await spawn(script, 'eventwire', (worker) => {
    target = createWorkerEventTarget(worker)
  })
  const ours = target!
  await ours.ready
  // Peer interest routing: main sends the worker only the types it listens to, so the worker's `double`
  // and `tick` listeners must be known here before the first request or tick.
  await ours.flush()
  let ticks = 0
  return {
    target: ours,
    spawned,
    double: (n) => request<number, number>(ours, 'double', n),
    tick: (n) => {
      ours.dispatchEvent(new CustomEvent('tick', { detail: n }))
      ticks++
    },
    // A dispatched event needs nothing back: once it is dispatched the sender is done.
    drained: () => Promise.resolve(),
    completed: () => ticks,
  }
}

async function comlinkSide(script: string): Promise<Side & { proxy: Comlink.Remote<DoubleService> }> {
  let proxy: Comlink.Remote<DoubleService> | undefined
  const spawned = await spawn(script, 'comlink', (worker) => {
    proxy = Comlink.wrap<DoubleService>(nodeEndpoint(worker))
  })
  const theirs = proxy!
  // Comlink has no one-way call: a void method still answers, and its promise settles on that answer.
  // The calls are not awaited one by one, but each batch waits for its answers at the end, so that their
  // arrival is counted in the batch that caused it and not in the other contender's next round.
  let inFlight: Promise<void>[] = []
  let answered = 0
  return {
    proxy: theirs,
    spawned,
    double: (n) => theirs.double(n),
    tick: (n) => {
      inFlight.push(
        theirs.tick(n).then(() => {
          answered++
        }),
      )
    },
    drained: async () => {
      const waiting = inFlight
      inFlight = []
      await Promise.all(waiting)
    },
    completed: () => answered,
  }
}

function sequential(name: string, side: Side): Contender {
  let answers = 0
  let next = 0
  return {
    name,
    run: async (n) => {
      for (let i = 0; i < n; i++) {
        const value = next++
        if ((await side.double(value)) === value * 2) answers++
      }
    },
    check: (total) => expectCount(`${name} (correct answers)`, answers, total),
  }
}

function concurrent(name: string, side: Side): Contender {
  let answers = 0
  let next = 0
  return {
    name,
    run: async (n) => {
      for (let done = 0; done < n; done += CONCURRENCY) {
        const values = Array.from({ length: Math.min(CONCURRENCY, n - done) }, () => next++)
        const results = await Promise.all(values.map((value) => side.double(value)))
        results.forEach((result, i) => {
          if (result === values[i]! * 2) answers++
        })
      }
    },
    check: (total) => expectCount(`${name} (correct answers)`, answers, total),
  }
}

function oneWay(name: string, side: Side): Contender {
  let sent = 0
  return {
    name,
    run: async (n) => {
      const counted = untilCounted(side.spawned, sent + n)
      for (let i = 0; i < n; i++) {
        side.tick(sent++)
        if (i % CHUNK === CHUNK - 1) await nextTask()
      }
      await Promise.all([counted, side.drained()])
    },
    check: (total) => {
      expectCount(`${name} (ticks counted in the worker)`, Atomics.load(side.spawned.counter, 0), total)
      expectCount(`${name} (ticks out of order)`, Atomics.load(side.spawned.counter, 2), 0)
      expectCount(`${name} (calls completed on main)`, side.completed(), total)
    },
  }
}

export async function run(): Promise<void> {
  const script = await bundleForNode(
    new URL('../test/support/worker-fixtures/comlink-worker.ts', import.meta.url),
    'bench-comlink',
  )
  const cleanups: Array<() => Promise<unknown>> = []
  try {
    const ours = await eventwireSide(script)
    cleanups.push(
      () => stop(ours.spawned),
      () => closeRemote(ours.spawned),
      () => ours.target.close(),
    )
    const theirs = await comlinkSide(script)
    cleanups.push(
      () => stop(theirs.spawned),
      () => closeRemote(theirs.spawned),
      // Tells the worker's `expose` to stop listening; the answer to that message is never awaited.
      async () => theirs.proxy[Comlink.releaseProxy](),
    )

    const oursName = 'eventwire request'
    const theirsName = 'Comlink await proxy.double'
    await compare({
      title: 'comlink: sequential round trips main -> worker -> main, one call in flight',
      unit: 'rtt',
      contenders: [sequential(oursName, ours), sequential(theirsName, theirs)],
      ratios: [{ ours: oursName, theirs: theirsName }],
    })
    await compare({
      title: `comlink: concurrent round trips, ${CONCURRENCY} in flight (Promise.all), repeated`,
      unit: 'rtt',
      batch: 20 * CONCURRENCY,
      contenders: [concurrent(oursName, ours), concurrent(theirsName, theirs)],
      ratios: [{ ours: oursName, theirs: theirsName }],
    })
    const oursTick = 'eventwire dispatchEvent'
    const theirsTick = 'Comlink proxy.tick, not awaited'
    await compare({
      title: `comlink: one-way calls main -> worker, ${CHUNK} per task, counted in the worker`,
      unit: 'call',
      batch: 5_000,
      contenders: [oneWay(oursTick, ours), oneWay(theirsTick, theirs)],
      ratios: [{ ours: oursTick, theirs: theirsTick }],
    })
  } finally {
    // Last registered first: each side closes its main end, then the worker's, then stops the worker.
    for (const cleanup of cleanups.reverse()) await cleanup()
  }
}
