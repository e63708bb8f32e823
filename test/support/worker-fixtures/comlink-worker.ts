// Runs inside a worker_threads worker for bench/comlink.ts (bundled to one .mjs there). The same service
// behind each of two libraries, chosen by `workerData.role`:
// - eventwire: `respond(target, 'double', ...)` and a `tick` listener on `createWorkerEventTarget(parentPort)`;
// - comlink: `Comlink.expose({ double, tick }, nodeEndpoint(parentPort))`.
// Both count ticks into shared memory and say so on the control port at a target count, as
// bench-worker.ts does, so that a one-way call is counted where it lands, never on the sending side.

import { type MessagePort, parentPort, workerData } from 'node:worker_threads'
import * as Comlink from 'comlink'
import adapter from 'comlink/dist/umd/node-adapter.js'
import { createWorkerEventTarget } from '../../../src/event-target-worker/index.js'
import { respond } from '../../../src/index.js'

export interface ComlinkWorkerSetup {
  role: 'eventwire' | 'comlink'
  /** `started` once the service is up; the tick count when it reaches the target; `closed` on `close`. */
  control: MessagePort
  /**
   * Int32 [ticks received, target count, ticks out of order]: the worker counts, main sets the target
   * before it sends. A tick carries its sequence number, so a lost, doubled or reordered call shows.
   */
  shared: SharedArrayBuffer
}

/** What the Comlink role exposes: the two operations the eventwire role serves as events. */
export interface DoubleService {
  double(n: number): number
  tick(n: number): void
}

/**
 * The adapter is a UMD bundle whose `module.exports` is the function itself, but its types declare an ES
 * `export default`, so under NodeNext TypeScript types the default import as the module object. At run
 * time (tsx, and this file's esbuild bundle) the default import is the function.
 */
export const nodeEndpoint: typeof adapter.default = typeof adapter === 'function' ? adapter : adapter.default

// bench/comlink.ts imports this file too (types and `nodeEndpoint`); only a worker started with a setup
// runs the service.
const setup = workerData as ComlinkWorkerSetup | null
if (setup !== null && parentPort !== null) serve(setup, parentPort)

function serve(setup: ComlinkWorkerSetup, port: NonNullable<typeof parentPort>): void {
  const counter = new Int32Array(setup.shared, 0, 3)
  const double = (n: number) => n * 2
  const tick = (n: number) => {
    const received = Atomics.load(counter, 0)
    if (n !== received) Atomics.add(counter, 2, 1)
    Atomics.store(counter, 0, received + 1)
    if (received + 1 === Atomics.load(counter, 1)) setup.control.postMessage(received + 1)
  }

  let close = async () => {}
  if (setup.role === 'eventwire') {
    const target = createWorkerEventTarget(port)
    respond<number, number>(target, 'double', double)
    target.addEventListener('tick', (event) => {
      if (typeof event.detail === 'number') tick(event.detail)
      else Atomics.add(counter, 2, 1)
    })
    close = () => target.close()
  } else {
    const service: DoubleService = { double, tick }
    Comlink.expose(service, nodeEndpoint(port))
  }
  setup.control.on('message', async (message: unknown) => {
    if (message !== 'close') return
    await close()
    setup.control.postMessage('closed')
  })
  setup.control.postMessage('started')
}
