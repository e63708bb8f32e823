/**
 * Worker transport: `worker_threads` workers, Web Workers, `MessagePort`s and `BroadcastChannel`s, with
 * details carried by structured clone, plus a main-thread hub that makes a worker pool one topology.
 * @module
 */
export type { WhenSubscribedOptions } from '../core/hub.js'
export type {
  NodeWorkerEndpoint,
  WebWorkerEndpoint,
  WorkerEndpoint,
} from './endpoint.js'
export type { WorkerEventTarget, WorkerEventTargetOptions } from './worker-event-target.js'
export { createWorkerEventTarget } from './worker-event-target.js'
export type {
  WorkerHubConnection,
  WorkerHubEventTarget,
  WorkerHubEventTargetOptions,
} from './worker-hub-event-target.js'
export { createWorkerHubEventTarget } from './worker-hub-event-target.js'
