/**
 * The conformance suite every eventwire transport runs, exported so third-party transports can run it
 * too, plus the helpers it is built on. Needs `vitest`.
 * @module
 */
export type {
  ConformanceCapabilities,
  ConformanceNode,
  ConformanceTopology,
  TopologyContext,
} from './conformance.js'
export { describeConformance } from './conformance.js'
export type { WaitForOptions } from './wait-for.js'
export { waitFor } from './wait-for.js'
