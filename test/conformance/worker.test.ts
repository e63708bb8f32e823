import { MessageChannel } from 'node:worker_threads'
import { describe, it } from 'vitest'
import {
  createWorkerEventTarget,
  createWorkerHubEventTarget,
  type WorkerEventTarget,
} from '../../src/event-target-worker/index.js'
import { conformanceCases, describeConformance, type TopologyContext } from '../../src/testing/index.js'
import { CHECKED_SCHEMAS, SCHEMA_LIBRARIES, type SchemaLibrary } from '../support/schemas.js'
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

// With schemas (`defineEvents`) on the worker hub: it checks what workers send. The workers run without
// a declaration (their schemas would have to be bundled into each worker), so each sends what it does not
// check, as worker 1 does in the schema tests. The whole suite with zod's schema, and the schema tests
// with every library.
async function schemaHubTopology({ onErrorOf, schemas }: TopologyContext) {
  const hub = createWorkerHubEventTarget({ onError: onErrorOf(0), events: schemas?.events })
  const workers = await Promise.all(
    [1, 2, 3].map((index) => WorkerNode.start({ endpoint: 'parent', onError: onErrorOf(index) })),
  )
  for (const worker of workers) hub.add(worker.worker)
  await Promise.all(workers.map((worker) => worker.open()))
  return {
    nodes: [hub, ...workers],
    close: async () => {
      await Promise.all(workers.map((worker) => worker.close()))
      await hub.close()
    },
  }
}
const schemaCapabilities = (library: SchemaLibrary) =>
  ({ schema: CHECKED_SCHEMAS[library], dispatcher: 0, sender: 1, senderLearns: true }) as const
describeConformance('worker: hub with three worker_threads workers, schemas (zod)', schemaHubTopology, {
  local: [0],
  schemas: schemaCapabilities('zod'),
})
describe('conformance: worker hub, schema tests per library', () => {
  for (const library of SCHEMA_LIBRARIES) {
    for (const test of conformanceCases(schemaHubTopology, {
      local: [0],
      schemas: schemaCapabilities(library),
    })) {
      if (test.name.startsWith('schemas:')) it(`${library}: ${test.name}`, () => test.run())
    }
  }
})

// Two-party links and BroadcastChannel peers with schemas: the node in this thread has the declaration
// (the workers run without one). Over the Worker link it also checks what it receives, so the worker's
// invalid events reach none of its listeners; on a BroadcastChannel each node checks what it posts.
async function schemaPeerTopology({ onErrorOf, schemas }: TopologyContext) {
  const node = await WorkerNode.start({ endpoint: 'parent', onError: onErrorOf(1) })
  const main = createWorkerEventTarget(node.worker, {
    onError: onErrorOf(0),
    events: schemas?.events,
    validate: { received: true },
  })
  await node.open()
  await main.ready
  return {
    nodes: [main, node],
    close: async () => {
      await node.close()
      await main.close()
    },
  }
}
async function schemaBroadcastTopology({ onErrorOf, schemas }: TopologyContext) {
  const channelName = `conformance-schemas-${Math.random().toString(36).slice(2)}`
  const channel = new BroadcastChannel(channelName)
  const local = createWorkerEventTarget(channel, { onError: onErrorOf(0), events: schemas?.events })
  const workers = await Promise.all(
    [1, 2].map((index) =>
      WorkerNode.start({ endpoint: 'broadcast', channelName, onError: onErrorOf(index) }),
    ),
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
}
describe('conformance: worker peers and BroadcastChannel, schema tests per library', () => {
  for (const library of SCHEMA_LIBRARIES) {
    const schema = CHECKED_SCHEMAS[library]
    const peers = { maxNodes: 2, local: [0], schemas: { schema, dispatcher: 0, sender: 1 } } as const
    for (const test of conformanceCases(schemaPeerTopology, peers)) {
      if (test.name.startsWith('schemas:')) it(`peers, ${library}: ${test.name}`, () => test.run())
    }
    const broadcast = { local: [0], schemas: { schema, dispatcher: 0 } } as const
    for (const test of conformanceCases(schemaBroadcastTopology, broadcast)) {
      if (test.name.startsWith('schemas:')) it(`BroadcastChannel, ${library}: ${test.name}`, () => test.run())
    }
  }
})
