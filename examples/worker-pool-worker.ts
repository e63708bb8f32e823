// Runs in each worker thread of examples/worker-pool.ts.
import { parentPort, workerData } from 'node:worker_threads'
import { createWorkerEventTarget } from '../src/event-target-worker/index.js'
import { createEvent } from '../src/index.js'

const name = (workerData as { name: string }).name
const target = createWorkerEventTarget(parentPort!)
target.addEventListener('job', (event) => {
  const { id, n } = event.detail as { id: number; n: number }
  target.dispatchEvent(createEvent('result', { id, worker: name, square: n * n }))
})
// Tell the pool once this worker's interest in 'job' has reached the hub.
await target.flush()
target.dispatchEvent(createEvent('worker-ready', name))
