import {
  type CloneFrame,
  createCloneCodec,
  createMemoryConnector,
  createMemoryPair,
  type FrameCodec,
  Hub,
  Spoke,
  type TypedEvent,
} from '../../src/index.js'
import {
  type ConformanceTopology,
  describeConformance,
  type TopologyContext,
} from '../../src/testing/index.js'

// The core Hub and Spoke over in-memory links (one macrotask per hop): the hub/spoke logic proven before
// any network transport. The hub is node 0, then the spokes.

const fast = { initialDelayMs: 10, maxDelayMs: 50 }

/**
 * A core hub and three spokes over in-memory links, with the text codec (the default) or another one.
 * Each spoke has its own connector, so an interruption severs one spoke's link.
 */
function memoryHub<W>(codec?: FrameCodec<W>) {
  return async ({ nodeCount, onError }: TopologyContext): Promise<ConformanceTopology> => {
    const hub = new Hub<TypedEvent, W>({ onError, codec })
    const connectors = Array.from({ length: Math.max(3, nodeCount - 1) }, () => createMemoryConnector(hub))
    const spokes = connectors.map(
      (connector) =>
        new Spoke<TypedEvent, W>({
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
      interrupt: async (index) => {
        connectors[index - 1]!.sever()
        // Both ends have seen the close once the next macrotask ran.
        await new Promise((resolve) => setImmediate(resolve))
      },
      close: async () => {
        await Promise.all(spokes.map((spoke) => spoke.close()))
        await hub.close()
      },
    }
  }
}

describeConformance('core hub with three in-memory spokes', memoryHub(), { interruptible: [1, 2] })

// The same hub and spokes speaking structured-clone frames (the worker transports' codec).
describeConformance('core hub with three in-memory spokes, clone codec', memoryHub(createCloneCodec()), {
  interruptible: [1, 2],
})

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
