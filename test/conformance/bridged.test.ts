import { bridge } from '../../src/bridge/index.js'
import type { TypedEvent } from '../../src/index.js'
import {
  type ConformanceTopology,
  describeConformance,
  type TopologyContext,
} from '../../src/testing/index.js'
import { createMemoryConnector, Hub, Spoke } from '../../src/transport/index.js'
import { client, startHub } from '../support/websocket.js'

// Graphs of bridges that contain cycles: a ring, a full mesh, two rings sharing a node. Every hub of a
// graph has one spoke, and the nodes under test are the hubs and the spokes: each event must still reach
// every listener exactly once and never come back to its dispatcher, with no help from the hop limit.

/** Edges of each graph, as pairs of hub indexes. */
const GRAPHS: Record<
  string,
  { hubs: number; edges: ReadonlyArray<readonly [number, number]>; forwardAll?: boolean }
> = {
  'a ring of three': {
    hubs: 3,
    edges: [
      [0, 1],
      [1, 2],
      [2, 0],
    ],
  },
  'a full mesh of four': {
    hubs: 4,
    edges: [
      [0, 1],
      [0, 2],
      [0, 3],
      [1, 2],
      [1, 3],
      [2, 3],
    ],
  },
  // Hubs 0 and 4 are two bridges apart: interest crosses one bridge, so these bridges forward everything.
  'two rings of three sharing a hub': {
    hubs: 5,
    edges: [
      [0, 1],
      [1, 2],
      [2, 0],
      [2, 3],
      [3, 4],
      [4, 2],
    ],
    forwardAll: true,
  },
}

/** Core hubs with one in-memory spoke each, bridged along `edges`. */
function memoryGraph(hubCount: number, edges: ReadonlyArray<readonly [number, number]>, forwardAll = false) {
  return async ({ onError }: TopologyContext): Promise<ConformanceTopology> => {
    const hubs = Array.from({ length: hubCount }, () => new Hub<TypedEvent>({ onError }))
    const spokes = hubs.map(
      (hub) =>
        new Spoke<TypedEvent>({
          connect: createMemoryConnector(hub).connect,
          onError,
          heartbeatIntervalMs: 0,
        }),
    )
    await Promise.all(spokes.map((spoke) => spoke.ready))
    const links = edges.map(([a, b]) => bridge(hubs[a]!, hubs[b]!, { onError, forwardAll }))
    return {
      nodes: [...spokes, ...hubs],
      close: async () => {
        for (const link of links) link.close()
        await Promise.all(spokes.map((spoke) => spoke.close()))
        await Promise.all(hubs.map((hub) => hub.close()))
      },
    }
  }
}

for (const [name, { hubs, edges, forwardAll }] of Object.entries(GRAPHS)) {
  describeConformance(`bridged: ${name} core hubs, a spoke on each`, memoryGraph(hubs, edges, forwardAll))
}

// The ring again with WebSocket hubs and real clients over loopback sockets.
describeConformance('bridged: a ring of three WebSocket hubs, a client on each', async ({ onError }) => {
  const running = await Promise.all([0, 1, 2].map(() => startHub({ onError })))
  const clients = running.map((hub) => client(hub.url, { onError }))
  await Promise.all(clients.map((target) => target.ready))
  const links = [0, 1, 2].map((i) => bridge(running[i]!.hub, running[(i + 1) % 3]!.hub, { onError }))
  return {
    nodes: [...clients, ...running.map((hub) => hub.hub)],
    close: async () => {
      for (const link of links) link.close()
      await Promise.all(clients.map((target) => target.close()))
      await Promise.all(running.map((hub) => hub.close()))
    },
  }
})
