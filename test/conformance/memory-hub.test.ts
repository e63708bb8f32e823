import {
  type CloneFrame,
  createCloneCodec,
  createMemoryConnector,
  createMemoryPair,
  Hub,
  type MemoryConnector,
  Spoke,
  type TypedEvent,
} from '../../src/index.js'
import { describeConformance } from '../../src/testing/index.js'

const fast = { initialDelayMs: 10, maxDelayMs: 50 }

/** Severs a connector's link; both ends have seen the close once the next macrotask ran. */
async function sever(
  connector: MemoryConnector<never> | MemoryConnector<string> | MemoryConnector<CloneFrame>,
) {
  connector.sever()
  await new Promise((resolve) => setImmediate(resolve))
}

// The core Hub and Spoke over in-memory links (one macrotask per hop): the hub/spoke logic proven before
// any network transport. The hub is node 0, then the spokes.
// Each spoke has its own connector, so an interruption severs one spoke's link.
describeConformance(
  'core hub with three in-memory spokes',
  async ({ nodeCount, onError }) => {
    const hub = new Hub({ onError })
    const connectors = Array.from({ length: Math.max(3, nodeCount - 1) }, () => createMemoryConnector(hub))
    const spokes = connectors.map(
      (connector) =>
        new Spoke({ connect: connector.connect, onError, heartbeatIntervalMs: 0, reconnect: fast }),
    )
    await Promise.all(spokes.map((spoke) => spoke.ready))
    return {
      nodes: [hub, ...spokes],
      interrupt: (index) => sever(connectors[index - 1]!),
      close: async () => {
        await Promise.all(spokes.map((spoke) => spoke.close()))
        await hub.close()
      },
    }
  },
  { interruptible: [1, 2] },
)

// The same hub and spokes speaking structured-clone frames (the worker transports' codec).
describeConformance(
  'core hub with three in-memory spokes, clone codec',
  async ({ nodeCount, onError }) => {
    const codec = createCloneCodec()
    const hub = new Hub<TypedEvent, CloneFrame>({ onError, codec })
    const connectors = Array.from({ length: Math.max(3, nodeCount - 1) }, () => createMemoryConnector(hub))
    const spokes = connectors.map(
      (connector) =>
        new Spoke<TypedEvent, CloneFrame>({
          connect: connector.connect,
          codec,
          onError,
          heartbeatIntervalMs: 0,
          reconnect: fast,
        }),
    )
    await Promise.all(spokes.map((spoke) => spoke.ready))
    return {
      nodes: [hub, ...spokes],
      interrupt: (index) => sever(connectors[index - 1]!),
      close: async () => {
        await Promise.all(spokes.map((spoke) => spoke.close()))
        await hub.close()
      },
    }
  },
  { interruptible: [1, 2] },
)

// Two peers linked directly (both `peer: true`), each routing by the other's interest: the shape of a
// MessagePort pair.
describeConformance(
  'two in-memory peers, clone codec',
  async ({ onError }) => {
    const codec = createCloneCodec()
    const pair = createMemoryPair<CloneFrame>()
    const make = (connect: typeof pair.a) =>
      new Spoke<TypedEvent, CloneFrame>({
        connect,
        codec,
        onError,
        peer: true,
        reconnect: false,
        heartbeatIntervalMs: 0,
      })
    const peers = [make(pair.a), make(pair.b)]
    await Promise.all(peers.map((peer) => peer.ready))
    return { nodes: peers, close: async () => void (await Promise.all(peers.map((peer) => peer.close()))) }
  },
  { maxNodes: 2 },
)
