import { describe, it } from 'vitest'
import type { TypedEvent } from '../../src/index.js'
import { conformanceCases, describeConformance } from '../../src/testing/index.js'
import { type CloneFrame, createCloneCodec, createMemoryPair, Spoke } from '../../src/transport/index.js'
import { memoryHub } from '../support/memory-hub.js'
import { CHECKED_SCHEMAS, SCHEMA_LIBRARIES, type SchemaLibrary } from '../support/schemas.js'

// The core Hub and Spoke over in-memory links (one macrotask per hop): the hub/spoke logic proven before
// any network transport. The hub is node 0, then the spokes.

describeConformance('core hub with three in-memory spokes', memoryHub(), { interruptible: [1, 2] })

// The same with a history on the hub (docs/recovery.md): the suite, plus a spoke cut under a stream.
describeConformance('core hub with history and three in-memory spokes', memoryHub(), {
  interruptible: [1, 2],
  history: true,
})

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

// With schemas (`defineEvents`): the whole suite with zod's, and its schema tests with every library. The
// hub checks what spokes send; spoke 1 does not check what it dispatches, as a hostile or outdated peer.
const schemaCapabilities = (library: SchemaLibrary) =>
  ({ schema: CHECKED_SCHEMAS[library], dispatcher: 2, sender: 1, senderLearns: true }) as const
describeConformance('core hub with three in-memory spokes, schemas (zod)', memoryHub(), {
  interruptible: [1, 2],
  schemas: schemaCapabilities('zod'),
})
describe('conformance: core hub with three in-memory spokes, schema tests per library', () => {
  for (const library of SCHEMA_LIBRARIES) {
    for (const test of conformanceCases(memoryHub(), { schemas: schemaCapabilities(library) })) {
      if (test.name.startsWith('schemas:')) it(`${library}: ${test.name}`, () => test.run())
    }
  }
})
