import { createInProcessEventTarget } from '../../src/event-target-in-process/index.js'
import { describeConformance } from '../../src/testing/index.js'

// In one process every node is a view of the same target: a topology of one.
describeConformance('in-process', async ({ nodeCount, onError }) => {
  const target = createInProcessEventTarget({ onError })
  return { nodes: Array.from({ length: nodeCount }, () => target), close: () => target.close() }
})
