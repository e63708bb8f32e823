/**
 * The in-process target: the shared listener registry and nothing else. The reference every other
 * transport is measured against, and the default `eventTarget` of `createPubSub`.
 * @module
 */
export type { InProcessEventTarget, InProcessEventTargetOptions } from './in-process-event-target.js'
export { createInProcessEventTarget } from './in-process-event-target.js'
