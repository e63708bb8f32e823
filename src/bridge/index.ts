/**
 * Bridges: connect two targets so two topologies behave as one (a hub and Redis for scale-out, a worker
 * pool and a WebSocket hub, …), with interest propagation and loop protection.
 * @module
 */
export type { Bridge, BridgeDirection, BridgeOptions, BridgeStats } from './bridge.js'
export { bridge } from './bridge.js'
export type { ScaleOut, ScaleOutOptions, ScaleOutStats } from './scale-out.js'
export { scaleOut } from './scale-out.js'
