import type { Endpoint } from '@number0/iroh'
import { describe, it } from 'vitest'
import { createIrohHubEventTarget } from '../../src/event-target-iroh-hub/index.js'
import { createIrohSpokeEventTarget } from '../../src/event-target-iroh-spoke/index.js'
import {
  conformanceCases,
  describeConformance,
  type TopologyContext,
  waitFor,
} from '../../src/testing/index.js'
import { bindHubEndpoint, bindLoopbackEndpoint, loopbackAddr, recordingEndpoint } from '../support/iroh.js'
import { CHECKED_SCHEMAS, SCHEMA_LIBRARIES, type SchemaLibrary } from '../support/schemas.js'

// Real iroh endpoints on 127.0.0.1 (minimal preset, no relay, no discovery): the hub is node 0, then
// the spokes, each with its own endpoint and so its own endpoint id. An interruption closes a spoke's
// QUIC connection under it; the spoke dials again.
async function loopbackTopology({ nodeCount, onError, onStatusOf, history }: TopologyContext) {
  const hubEndpoint = await bindHubEndpoint()
  const spokeEndpoints: Endpoint[] = await Promise.all(
    Array.from({ length: Math.max(3, nodeCount - 1) }, () => bindLoopbackEndpoint()),
  )
  const hub = createIrohHubEventTarget({ endpoint: hubEndpoint, onError, history })
  const recorded = spokeEndpoints.map(recordingEndpoint)
  const disconnections = recorded.map(() => 0)
  const spokes = recorded.map(({ endpoint }, i) =>
    createIrohSpokeEventTarget({
      endpoint,
      hub: loopbackAddr(hubEndpoint),
      onError,
      onStatus: (status) => {
        if (status.type === 'disconnected') disconnections[i]!++
        onStatusOf(i + 1)(status)
      },
      reconnect: { initialDelayMs: 20, maxDelayMs: 200 },
    }),
  )
  await Promise.all(spokes.map((spoke) => spoke.ready))
  return {
    nodes: [hub, ...spokes],
    interrupt: async (index: number) => {
      const before = disconnections[index - 1]!
      recorded[index - 1]!.latest()!.close(0n, [])
      await waitFor(() => disconnections[index - 1]! > before, {
        timeoutMs: 5_000,
        message: 'the spoke noticed',
      })
    },
    close: async () => {
      await Promise.all(spokes.map((spoke) => spoke.close()))
      await hub.close()
      await Promise.all([hubEndpoint, ...spokeEndpoints].map((endpoint) => endpoint.close()))
    },
  }
}
describeConformance('iroh hub with three spokes on loopback', loopbackTopology, { interruptible: [1, 2] })
// With a history on the hub (docs/recovery.md): the suite, plus a spoke cut under a stream.
describeConformance('iroh hub with history and three spokes on loopback', loopbackTopology, {
  interruptible: [1, 2],
  history: true,
})

// With schemas (`defineEvents`): the hub checks what spokes send; spoke 1 does not check what it
// dispatches. The whole suite with effect's schema, and the schema tests with every library.
async function schemaTopology({ nodeCount, onErrorOf, schemas }: TopologyContext) {
  const events = schemas?.events
  const hubEndpoint = await bindHubEndpoint()
  const spokeEndpoints: Endpoint[] = await Promise.all(
    Array.from({ length: Math.max(3, nodeCount - 1) }, () => bindLoopbackEndpoint()),
  )
  const hub = createIrohHubEventTarget({ endpoint: hubEndpoint, onError: onErrorOf(0), events })
  const spokes = spokeEndpoints.map((endpoint, index) =>
    createIrohSpokeEventTarget({
      endpoint,
      hub: loopbackAddr(hubEndpoint),
      onError: onErrorOf(index + 1),
      reconnect: { initialDelayMs: 20, maxDelayMs: 200 },
      events,
      validate: { dispatched: schemas?.sender !== index + 1 },
    }),
  )
  await Promise.all(spokes.map((spoke) => spoke.ready))
  return {
    nodes: [hub, ...spokes],
    close: async () => {
      await Promise.all(spokes.map((spoke) => spoke.close()))
      await hub.close()
      await Promise.all([hubEndpoint, ...spokeEndpoints].map((endpoint) => endpoint.close()))
    },
  }
}
const schemaCapabilities = (library: SchemaLibrary) =>
  ({ schema: CHECKED_SCHEMAS[library], dispatcher: 2, sender: 1, senderLearns: true }) as const
describeConformance('iroh hub with three spokes on loopback, schemas (effect)', schemaTopology, {
  schemas: schemaCapabilities('effect'),
})
describe('conformance: iroh hub with three spokes on loopback, schema tests per library', () => {
  for (const library of SCHEMA_LIBRARIES) {
    for (const test of conformanceCases(schemaTopology, { schemas: schemaCapabilities(library) })) {
      if (test.name.startsWith('schemas:')) it(`${library}: ${test.name}`, () => test.run())
    }
  }
})
