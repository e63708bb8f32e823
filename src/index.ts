/**
 * eventwire: one `TypedEventTarget` interface over every transport. The root entry holds the core (types,
 * registry, errors, frame codec, transport-neutral Hub and Spoke) and imports no optional dependency.
 * @module
 */
export * from './core/index.js'
export * from './pubsub/index.js'
export * from './request-reply/index.js'
