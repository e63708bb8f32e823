/**
 * The receiving worker of bench/realistic.ts (bundled there and started as a `worker_threads` worker).
 * It takes `down` events from the main thread, checks that every one arrives in order, and acknowledges
 * every `ackEvery` events on the same port as the data:
 * - ours: `createWorkerEventTarget(parentPort)` with default options, a listener for `down`, and an
 *   `ack-down` event dispatched back;
 * - naive: one detail per message on `parentPort`, an acknowledgement posted back;
 * - batched: an array of details per message (the main thread posts up to 16 at once);
 * - comlink: `Comlink.expose({ take, drain }, nodeEndpoint(parentPort))`, `take(detail)` called once per
 *   event, and each acknowledgement a call of the main thread's `ack` through `Comlink.wrap` on the same
 *   endpoint (see bench/realistic.ts for why not a `Comlink.proxy` callback).
 * The control port carries no data: it says the worker started, reports errors, and answers `counts`.
 */
import { parentPort, workerData } from 'node:worker_threads'
import * as Comlink from 'comlink'
import { createWorkerEventTarget } from '../../src/event-target-worker/index.js'
import { createEvent } from '../../src/index.js'
import { type AckSink, type DetailSink, nodeEndpoint } from './realistic-comlink.js'
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
} else if (setup.variant === 'comlink') {
  // Both directions on the one endpoint: `expose` ignores the answers to this side's own calls (they
  // carry no request type) and `wrap` ignores requests (their ids are not among its pending calls).
  const endpoint = nodeEndpoint(port)
  const main = Comlink.wrap<AckSink>(endpoint)
  // Not awaited: nothing here waits for the main thread, as with the other variants' acknowledgements.
  const receiver = new Receiver(0, ACK_DOWN, setup.ackEvery, (ack) => void main.ack(ack), fail)
  const sink: DetailSink = { take: (detail) => receiver.take(detail), drain: () => {} }
  Comlink.expose(sink, endpoint)
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
