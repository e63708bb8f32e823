import { type CloneFrame, createCloneCodec } from '../core/codec.js'
import { EventwireError } from '../core/errors.js'
import type { FrameLimits } from '../core/frame.js'
import { readLimits, readNonNegativeInteger, readOptionsObject } from '../core/options.js'
import type { EventsOptions } from '../core/schema.js'
import { Spoke } from '../core/spoke.js'
import type { NetworkEventTarget, NetworkEventTargetOptions, TypedEvent } from '../core/types.js'
import { createBroadcastEventTarget } from './broadcast-event-target.js'
import { assertEndpoint, isBroadcastChannel, openEndpointLink, type WorkerEndpoint } from './endpoint.js'

// --- types ---

/**
 * Options of `createWorkerEventTarget`. Details travel by structured clone, so there is no `serializer`.
 */
export interface WorkerEventTargetOptions<TEvent extends TypedEvent = TypedEvent>
  extends Omit<NetworkEventTargetOptions, 'serializer'>,
    EventsOptions<TEvent> {
  /** Origin id of events dispatched here. @default random */
  nodeId?: string
  /** Event type length and batch size limits of received messages. @see FrameLimits */
  limits?: Partial<FrameLimits>
  /**
   * How often a ping goes to the other side, in ms; 0 disables heartbeats. Only useful where the platform
   * gives no end signal (a web `Worker` terminated elsewhere): a side silent for `heartbeatTimeoutMs` is
   * declared gone and this target closes. Not used on a `BroadcastChannel`.
   * @default 0
   */
  heartbeatIntervalMs?: number
  /** Silence after which the other side is declared gone. @default 2 × heartbeatIntervalMs */
  heartbeatTimeoutMs?: number
}

/** A worker target: the lifecycle surface of every network target, plus its origin id. */
export interface WorkerEventTarget<TEvent extends TypedEvent = TypedEvent>
  extends NetworkEventTarget<TEvent> {
  readonly nodeId: string
}

// --- factory ---

/**
 * One end of a worker link, the same call on both sides: `createWorkerEventTarget(worker)` on the main
 * thread, `createWorkerEventTarget(parentPort)` (Node) or `createWorkerEventTarget(self)` (browser) in the
 * worker, or one per end of a `MessageChannel`. Two-party endpoints run a core `Spoke` in peer mode, so
 * each side sends the other only the types it listens to; against a worker hub the worker side is a
 * plain spoke. A `BroadcastChannel` makes this node one of N equal peers on the channel.
 *
 * Create it in the same task as the `Worker` (Node and browsers drop a worker's messages that arrive
 * before a message listener exists), and at the top level of the worker script.
 */
export function createWorkerEventTarget<TEvent extends TypedEvent = TypedEvent>(
  // A `BroadcastChannel` is a `WebWorkerEndpoint` too; it is told apart at run time. Naming its class
  // here would make these types need the DOM lib (Node's types declare no global `BroadcastChannel` type).
  endpoint: WorkerEndpoint,
  options?: WorkerEventTargetOptions<TEvent>,
): WorkerEventTarget<TEvent> {
  const opts = readWorkerOptions(options, 'createWorkerEventTarget')
  if (isBroadcastChannel(endpoint)) return createBroadcastEventTarget<TEvent>(endpoint, opts)
  assertEndpoint(endpoint)
  return new WorkerSpoke<TEvent>(endpoint, opts)
}

/** Validates the options shared by the worker targets; `serializer` has no meaning on a clone link. */
export function readWorkerOptions<T extends object>(options: T | undefined, factory: string): Partial<T> {
  const opts = readOptionsObject(options, factory)
  if ((opts as { serializer?: unknown }).serializer !== undefined) {
    throw new EventwireError(
      'ERR_INVALID_OPTION',
      'option "serializer" is not supported: worker links carry details by structured clone',
    )
  }
  return opts
}

// --- spoke ---

/** A core Spoke in peer mode whose one link is the endpoint; it closes for good when the link ends. */
class WorkerSpoke<TEvent extends TypedEvent>
  extends Spoke<TEvent, CloneFrame>
  implements WorkerEventTarget<TEvent>
{
  constructor(endpoint: WorkerEndpoint, opts: Partial<WorkerEventTargetOptions<TEvent>>) {
    const heartbeatIntervalMs = readNonNegativeInteger('heartbeatIntervalMs', opts.heartbeatIntervalMs, 0)
    super({
      ...opts,
      codec: createCloneCodec(readLimits(opts.limits)),
      peer: true,
      reconnect: false,
      heartbeatIntervalMs,
      connect: (handlers) =>
        openEndpointLink(endpoint, {
          receive: handlers.receive,
          closed: handlers.closed,
          error: (error) => this.reportError(error),
          lost: handlers.lost,
        }),
      // The link reports errors that do not close it (a worker's uncaught error, a message that could not
      // be deserialized) to this spoke, which exists once `super` returns: it starts after.
      start: false,
    })
    this.start()
  }
}
