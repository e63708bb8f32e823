/**
 * The conformance suite every eventwire transport runs, exported so third-party transports can run it
 * too, plus the helpers it is built on. Needs `vitest`.
 * @module
 */
export type {
  ConformanceCapabilities,
  ConformanceCase,
  ConformanceNode,
  ConformanceTopology,
  TopologyContext,
} from './conformance.js'
export { conformanceCases, describeConformance } from './conformance.js'
export type { WaitForOptions } from './wait-for.js'
export { waitFor } from './wait-for.js'
