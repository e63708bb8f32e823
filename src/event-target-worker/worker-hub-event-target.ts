import { type CloneFrame, createCloneCodec } from '../core/codec.js'
import { EventwireError } from '../core/errors.js'
import {
  Hub,
  type HubConnection,
  type HubConnectionInfo,
  type HubOptions,
  type WhenSubscribedOptions,
} from '../core/hub.js'
import { CLOSE_NORMAL, type Link } from '../core/link.js'
import { readLimits } from '../core/options.js'
import type { NetworkEventTarget, TypedEvent, TypedEventTarget } from '../core/types.js'
import { assertEndpoint, isBroadcastChannel, openEndpointLink, type WorkerEndpoint } from './endpoint.js'
import { readWorkerOptions } from './worker-event-target.js'

// --- types ---

/**
 * Options of `createWorkerHubEventTarget`: the core hub's, with the structured-clone codec fixed.
 * `maxBufferedBytes` and `overflow` bound what is queued toward one worker within one task (a
 * `postMessage` has no send buffer to watch).
 */
export type WorkerHubEventTargetOptions<TEvent extends TypedEvent = TypedEvent> = Omit<
  HubOptions<CloneFrame, unknown, TEvent>,
  // No `history`: a worker's link never reconnects, so there is nothing to resume (docs/recovery.md).
  'codec' | 'serializer' | 'history'
>

/** One worker (or port) added to the hub. */
export interface WorkerHubConnection {
  readonly info: HubConnectionInfo
  /**
   * Takes the worker out of the hub: its messages are ignored from now on, what the hub already queued for
   * it in this task is still posted, and then the connection closes (`onDisconnection` with code 1000).
   * The worker itself is left running.
   */
  remove(): Promise<void>
}

/** A main-thread hub relaying among workers: a target of its own, plus `add` for each worker. */
export interface WorkerHubEventTarget<TEvent extends TypedEvent = TypedEvent>
  extends NetworkEventTarget<TEvent> {
  readonly nodeId: string
  /**
   * Routes events to and from a worker (a `Worker`, or a `MessagePort` whose other end runs
   * `createWorkerEventTarget`). Call it in the task that created the worker. A worker that exits or
   * crashes is removed on its own and counted.
   */
  add(endpoint: WorkerEndpoint, options?: { principal?: unknown }): WorkerHubConnection
  /** One worker as a target: dispatch to it alone, hear what it publishes. @see Hub.connectionTarget */
  connectionTarget(id: string): TypedEventTarget<TEvent> | undefined
  /** The types some worker currently subscribes to. */
  remoteTypes(): string[]
  /**
   * Resolves once at least `count` spokes subscribe to `type` (at once if they already do): dispatch
   * after it and they all receive the event. Rejects with `ERR_TIMEOUT` after `timeoutMs`, and with
   * `ERR_CLOSED` when the hub closes first.
   */
  whenSubscribed(type: string, options?: WhenSubscribedOptions): Promise<void>
}

// --- factory ---

/**
 * A core `Hub` speaking structured-clone frames to workers, so a worker pool is one topology: each worker
 * runs `createWorkerEventTarget(parentPort)` (or `self`) and gets every event dispatched anywhere in the
 * pool for the types it listens to. Events are batched per task per worker and sent only to the workers
 * that want their type. `close()` leaves the workers running: they are yours.
 */
export function createWorkerHubEventTarget<TEvent extends TypedEvent = TypedEvent>(
  options?: WorkerHubEventTargetOptions<TEvent>,
): WorkerHubEventTarget<TEvent> {
  return new WorkerHub<TEvent>(readWorkerOptions(options, 'createWorkerHubEventTarget'))
}

// --- hub ---

class WorkerHub<TEvent extends TypedEvent>
  extends Hub<TEvent, CloneFrame>
  implements WorkerHubEventTarget<TEvent>
{
  readonly #endpoints = new Set<WorkerEndpoint>()

  constructor(opts: Partial<WorkerHubEventTargetOptions<TEvent>>) {
    super({ ...opts, codec: createCloneCodec(readLimits(opts.limits)), history: undefined })
  }

  add(endpoint: WorkerEndpoint, options: { principal?: unknown } = {}): WorkerHubConnection {
    if (isBroadcastChannel(endpoint)) {
      throw new EventwireError(
        'ERR_INVALID_OPTION',
        'option "endpoint" must be a Worker or MessagePort: a BroadcastChannel has no hub',
      )
    }
    assertEndpoint(endpoint)
    if (this.#endpoints.has(endpoint)) {
      throw new EventwireError('ERR_INVALID_OPTION', 'this endpoint was already added to the hub')
    }
    let connection: HubConnection | undefined
    let isReading = true
    const endpointLink = openEndpointLink(endpoint, {
      receive: (data) => {
        if (isReading) connection?.receive(data)
      },
      closed: (info) => {
        this.#endpoints.delete(endpoint)
        connection?.closed(info)
      },
      error: (error) => this.reportError(error),
      lost: (error) => connection?.lost(error),
    })
    // The hub closes a link itself on close(), a protocol error or overflow: the endpoint may come back.
    const link: Link<CloneFrame> = {
      send: endpointLink.send,
      close: (code, reason) => {
        this.#endpoints.delete(endpoint)
        endpointLink.close(code, reason)
      },
    }
    const accepted = this.accept(link, { principal: options.principal })
    connection = accepted
    if (!this.isClosed) this.#endpoints.add(endpoint)
    return {
      info: accepted.info,
      remove: async () => {
        isReading = false
        // The link writer flushes in a microtask queued by the first frame of this task; closing after
        // one more microtask lets it post what was queued before remove() was called.
        await Promise.resolve()
        // The worker is told (a bye frame), so its target reports the end instead of dispatching into
        // a link nobody reads.
        accepted.close(CLOSE_NORMAL, 'removed')
      },
    }
  }
}
