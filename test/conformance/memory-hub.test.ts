import type { TypedEvent } from '../../src/index.js'
import { describeConformance } from '../../src/testing/index.js'
import { type CloneFrame, createCloneCodec, createMemoryPair, Spoke } from '../../src/transport/index.js'
import { memoryHub } from '../support/memory-hub.js'

// The core Hub and Spoke over in-memory links (one macrotask per hop): the hub/spoke logic proven before
// any network transport. The hub is node 0, then the spokes.

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
