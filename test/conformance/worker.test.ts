import { MessageChannel } from 'node:worker_threads'
import {
  createWorkerEventTarget,
  createWorkerHubEventTarget,
  type WorkerEventTarget,
} from '../../src/event-target-worker/index.js'
import { describeConformance } from '../../src/testing/index.js'
import { WorkerNode } from '../support/worker-node.js'

// Every worker node below is a real worker_threads worker whose target the test thread drives through a
// WorkerNode proxy (test/support/worker-node.ts): listener options run on the proxy, every remote
// delivery crosses the transport under test.

describeConformance(
  'worker: main thread <-> one worker_threads worker (peers over Worker / parentPort)',
  async ({ onError }) => {
    const node = await WorkerNode.start({ endpoint: 'parent', onError })
    const main = createWorkerEventTarget(node.worker, { onError })
    await node.open()
    await main.ready
    return {
      nodes: [main, node],
      close: async () => {
        await node.close()
        await main.close()
      },
    }
  },
  { maxNodes: 2, local: [0] },
)

describeConformance(
  'worker: hub with three worker_threads workers',
  async ({ onError }) => {
    const hub = createWorkerHubEventTarget({ onError })
    const workers = await Promise.all([1, 2, 3].map(() => WorkerNode.start({ endpoint: 'parent', onError })))
    for (const worker of workers) hub.add(worker.worker)
    await Promise.all(workers.map((worker) => worker.open()))
    return {
      nodes: [hub, ...workers],
      close: async () => {
        await Promise.all(workers.map((worker) => worker.close()))
        await hub.close()
      },
    }
  },
  { local: [0] },
)

describeConformance(
  'worker: two MessagePort ends of a MessageChannel (test thread <-> worker)',
  async ({ onError }) => {
    const { port1, port2 } = new MessageChannel()
    const node = await WorkerNode.start({ endpoint: 'port', port: port2, onError })
    const local = createWorkerEventTarget(port1, { onError })
    await node.open()
    await local.ready
    return {
      nodes: [local, node],
      close: async () => {
        await node.close()
        await local.close()
        port1.close()
      },
    }
  },
  { maxNodes: 2, local: [0] },
)

describeConformance(
  'worker: BroadcastChannel peers (test thread + two workers)',
  async ({ onError }) => {
    const channelName = `conformance-${Math.random().toString(36).slice(2)}`
    const channel = new BroadcastChannel(channelName)
    const local: WorkerEventTarget = createWorkerEventTarget(channel, { onError })
    const workers = await Promise.all(
      [1, 2].map(() => WorkerNode.start({ endpoint: 'broadcast', channelName, onError })),
    )
    await Promise.all(workers.map((worker) => worker.open()))
    return {
      nodes: [local, ...workers],
      close: async () => {
        await Promise.all(workers.map((worker) => worker.close()))
        await local.close()
        channel.close()
      },
    }
  },
  { local: [0] },
)
