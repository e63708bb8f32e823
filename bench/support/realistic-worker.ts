/**
 * The receiving worker of bench/realistic.ts (bundled there and started as a `worker_threads` worker).
 * It takes `down` events from the main thread, checks that every one arrives in order, and acknowledges
 * every `ackEvery` events on the same port as the data:
 * - ours: `createWorkerEventTarget(parentPort)` with default options, a listener for `down`, and an
 *   `ack-down` event dispatched back;
 * - naive: one detail per message on `parentPort`, an acknowledgement posted back;
 * - batched: an array of details per message (the main thread posts up to 16 at once).
 * The control port carries no data: it says the worker started, reports errors, and answers `counts`.
 */
import { parentPort, workerData } from 'node:worker_threads'
import { createWorkerEventTarget } from '../../src/event-target-worker/index.js'
import { createEvent } from '../../src/index.js'
import {
  ACK_DOWN,
  type Ack,
  type Detail,
  DOWN,
  type FromWorker,
  Receiver,
  type ToWorker,
  type WorkerSetup,
} from './realistic-common.js'

const setup = workerData as WorkerSetup
const port = parentPort!
const report = (message: FromWorker) => setup.control.postMessage(message)
const fail = (message: string) => report({ type: 'error', message })

if (setup.variant === 'ours') {
  const target = createWorkerEventTarget(port)
  const receiver = new Receiver(
    0,
    ACK_DOWN,
    setup.ackEvery,
    (ack) => target.dispatchEvent(createEvent(ACK_DOWN, ack)),
    fail,
  )
  target.addEventListener(DOWN, (event) => receiver.take((event as CustomEvent<Detail>).detail))
  setup.control.on('message', (message: ToWorker) => {
    if (message.type === 'counts') report({ type: 'counts', count: receiver.count })
  })
} else {
  const ack = (message: Ack) => port.postMessage(message)
  const receiver = new Receiver(0, ACK_DOWN, setup.ackEvery, ack, fail)
  if (setup.variant === 'naive') port.on('message', (detail: Detail) => receiver.take(detail))
  else {
    port.on('message', (details: Detail[]) => {
      for (const detail of details) receiver.take(detail)
    })
  }
  setup.control.on('message', (message: ToWorker) => {
    if (message.type === 'counts') report({ type: 'counts', count: receiver.count })
  })
}
report({ type: 'started' })
