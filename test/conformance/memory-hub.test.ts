import {
  type CloneFrame,
  createCloneCodec,
  createMemoryConnector,
  createMemoryPair,
  Hub,
  Spoke,
  type TypedEvent,
} from '../../src/index.js'
import { describeConformance } from '../../src/testing/index.js'

// The core Hub and Spoke over in-memory links (one macrotask per hop): the hub/spoke logic proven before
// any network transport. The hub is node 0, then the spokes.
describeConformance('core hub with three in-memory spokes', async ({ nodeCount, onError }) => {
  const hub = new Hub({ onError })
  const connector = createMemoryConnector(hub)
  const spokes = Array.from(
    { length: Math.max(3, nodeCount - 1) },
    () => new Spoke({ connect: connector.connect, onError, heartbeatIntervalMs: 0 }),
  )
  await Promise.all(spokes.map((spoke) => spoke.ready))
  return {
    nodes: [hub, ...spokes],
    close: async () => {
      await Promise.all(spokes.map((spoke) => spoke.close()))
      await hub.close()
    },
  }
})

// The same hub and spokes speaking structured-clone frames (the worker transports' codec).
describeConformance('core hub with three in-memory spokes, clone codec', async ({ nodeCount, onError }) => {
  const codec = createCloneCodec()
  const hub = new Hub<TypedEvent, CloneFrame>({ onError, codec })
  const connector = createMemoryConnector(hub)
  const spokes = Array.from(
    { length: Math.max(3, nodeCount - 1) },
    () =>
      new Spoke<TypedEvent, CloneFrame>({
        connect: connector.connect,
        codec,
        onError,
        heartbeatIntervalMs: 0,
      }),
  )
  await Promise.all(spokes.map((spoke) => spoke.ready))
  return {
    nodes: [hub, ...spokes],
    close: async () => {
      await Promise.all(spokes.map((spoke) => spoke.close()))
      await hub.close()
    },
  }
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
