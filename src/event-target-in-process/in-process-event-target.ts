import { EventwireError } from '../core/errors.js'
import { createNodeId } from '../core/link.js'
import { NetworkTargetBase } from '../core/network-target.js'
import { readOptionsObject } from '../core/options.js'
import type { EventsOptions } from '../core/schema.js'
import type { EventwireStats, NetworkEventTarget, TypedEvent } from '../core/types.js'

/** `TEvent` is inferred from `events`, whose schemas check every dispatched detail. */
export interface InProcessEventTargetOptions<TEvent extends TypedEvent = TypedEvent>
  extends EventsOptions<TEvent> {
  /** Receives `ERR_LISTENER_THREW` when a listener throws; the other listeners still run. */
  onError?: (error: EventwireError) => void
}

/**
 * An in-process target. It has the same lifecycle surface as the network targets (`ready`, `flush`,
 * `close`, `stats`) so that swapping the import is the only change when a topology grows.
 */
export type InProcessEventTarget<TEvent extends TypedEvent = TypedEvent> = NetworkEventTarget<TEvent>

export function createInProcessEventTarget<TEvent extends TypedEvent = TypedEvent>(
  options?: InProcessEventTargetOptions<TEvent>,
): InProcessEventTarget<TEvent> {
  return new InProcessTarget<TEvent>(options)
}

class InProcessTarget<TEvent extends TypedEvent>
  extends NetworkTargetBase<TEvent>
  implements InProcessEventTarget<TEvent>
{
  readonly ready: Promise<void> = Promise.resolve()
  readonly nodeId = createNodeId()

  constructor(options?: InProcessEventTargetOptions<TEvent>) {
    const opts = readOptionsObject(options, 'createInProcessEventTarget')
    super(opts)
  }

  protected override interestChanged(_type: string, isInterested: boolean): void {
    this.counters.subscriptions += isInterested ? 1 : -1
  }

  dispatchEvent(event: TEvent): boolean {
    if (!this.beginDispatch(event)) return false
    this.counters.delivered += this.registry.deliver(event)
    return !event.defaultPrevented
  }

  flush(): Promise<void> {
    return this.isClosed
      ? Promise.reject(new EventwireError('ERR_CLOSED', 'the target is closed'))
      : this.ready
  }

  async close(): Promise<void> {
    this.isClosed = true
    this.registry.clear()
    this.counters.subscriptions = 0
  }

  stats(): EventwireStats {
    return { ...this.counters }
  }
}
