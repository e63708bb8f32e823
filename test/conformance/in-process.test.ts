import { describe, it } from 'vitest'
import { createInProcessEventTarget } from '../../src/event-target-in-process/index.js'
import { conformanceCases, describeConformance, type TopologyContext } from '../../src/testing/index.js'
import { CHECKED_SCHEMAS, SCHEMA_LIBRARIES } from '../support/schemas.js'

// In one process every node is a view of the same target: a topology of one.
describeConformance('in-process', async ({ nodeCount, onError }) => {
  const target = createInProcessEventTarget({ onError })
  return { nodes: Array.from({ length: nodeCount }, () => target), close: () => target.close() }
})

// With schemas (`defineEvents`): nothing arrives from elsewhere, so the check is at dispatchEvent. The
// whole suite with zod's schema, and the schema tests with every library.
const schemaTopology = async ({ nodeCount, onError, schemas }: TopologyContext) => {
  const target = createInProcessEventTarget({ onError, events: schemas?.events })
  return { nodes: Array.from({ length: nodeCount }, () => target), close: () => target.close() }
}
describeConformance('in-process, schemas (zod)', schemaTopology, {
  schemas: { schema: CHECKED_SCHEMAS.zod, dispatcher: 0 },
})
describe('conformance: in-process, schema tests per library', () => {
  for (const library of SCHEMA_LIBRARIES) {
    for (const test of conformanceCases(schemaTopology, {
      schemas: { schema: CHECKED_SCHEMAS[library], dispatcher: 0 },
    })) {
      if (test.name.startsWith('schemas:')) it(`${library}: ${test.name}`, () => test.run())
    }
  }
})
