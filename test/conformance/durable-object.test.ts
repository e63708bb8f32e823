import { afterAll } from 'vitest'
import { describeConformance } from '../../src/testing/index.js'
import { bundleWorker, type RunningWorker, startWorker } from '../support/durable-object.js'
import { interruptibleClient } from '../support/websocket.js'

// The hub is a Durable Object in workerd (through miniflare), behind the gateway Worker; the nodes are
// three Node WebSocket clients of one room, a new room per test. The object is remote, so the topology is
// spokes only: every guarantee is asserted between them, through the object's hub.
// An interruption drops a client's socket without a close handshake; the client reconnects.

let started: Promise<RunningWorker> | undefined
let room = 0

function worker(): Promise<RunningWorker> {
  started ??= bundleWorker(new URL('../support/durable-object-fixtures/hub-worker.ts', import.meta.url)).then(
    (script) => startWorker(script, { ROOMS: 'Room' }),
  )
  return started
}

afterAll(async () => {
  await (await started)?.close()
})

describeConformance(
  'durable object hub with three clients',
  async ({ nodeCount, onError }) => {
    const running = await worker()
    const url = `${running.wsOrigin}/rooms/conformance-${++room}`
    const spokes = Array.from({ length: Math.max(3, nodeCount) }, () => interruptibleClient(url, { onError }))
    await Promise.all(spokes.map((spoke) => spoke.target.ready))
    return {
      nodes: spokes.map((spoke) => spoke.target),
      interrupt: (index) => spokes[index]!.interrupt(),
      close: async () => {
        await Promise.all(spokes.map((spoke) => spoke.target.close()))
      },
    }
  },
  { interruptible: [0, 1] },
)
