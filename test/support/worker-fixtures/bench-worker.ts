// Runs inside a worker_threads worker for bench/worker.ts (bundled to one .mjs there). One role per
// worker, with the same work for our transport and for raw postMessage:
// - sink: counts `tick` events into shared memory and says `done` on the control port at a target count;
// - echo: notes when each `ping` reached its listener (process-wide monotonic clock, in shared memory),
//   then answers with a `pong` carrying the same detail;
// - source: on a control `send` command, emits n `tick` events, CHUNK per task.

import { type MessagePort, parentPort, workerData } from 'node:worker_threads'
import { createWorkerEventTarget } from '../../../src/event-target-worker/index.js'

export interface BenchWorkerSetup {
  role: 'sink' | 'echo' | 'source'
  /** `ours`: a worker target on the endpoint; `raw`: postMessage / message events, one per event. */
  flavor: 'ours' | 'raw'
  control: MessagePort
  /**
   * Bytes 0-7: [received, target] as Int32 (the sink counts, main sets the target before it sends);
   * bytes 8-15: the echo's `process.hrtime.bigint()` at the last ping's arrival.
   */
  shared: SharedArrayBuffer
  /** The endpoint to use instead of parentPort (a MessagePort transferred to this worker). */
  port?: MessagePort
  chunk: number
}

const setup = workerData as BenchWorkerSetup
const endpoint = setup.port ?? parentPort!
const counter = new Int32Array(setup.shared, 0, 2)
const arrival = new BigInt64Array(setup.shared, 8, 1)
const nextTask = () => new Promise((resolve) => setImmediate(resolve))

const target = setup.flavor === 'ours' ? createWorkerEventTarget(endpoint) : undefined
let emit: (type: string, detail: unknown) => void
if (target !== undefined) {
  emit = (type, detail) => target.dispatchEvent(new CustomEvent(type, { detail }))
} else {
  emit = (_type, detail) => endpoint.postMessage(detail)
}
const on = (type: string, listener: (detail: unknown) => void) => {
  if (target !== undefined) target.addEventListener(type, (event) => listener(event.detail))
  else endpoint.on('message', listener)
}

switch (setup.role) {
  case 'sink': {
    let count = 0
    on('tick', () => {
      count++
      Atomics.store(counter, 0, count)
      if (count === Atomics.load(counter, 1)) setup.control.postMessage(count)
    })
    break
  }
  case 'echo':
    on('ping', (detail) => {
      Atomics.store(arrival, 0, process.hrtime.bigint())
      emit('pong', detail)
    })
    break
  case 'source': {
    let n = 0
    setup.control.on('message', async (count: number) => {
      for (let i = 0; i < count; i++) {
        emit('tick', { id: n++, name: 'order', total: 42.5 })
        if (i % setup.chunk === setup.chunk - 1) await nextTask()
      }
    })
    break
  }
}
setup.control.postMessage('started')
