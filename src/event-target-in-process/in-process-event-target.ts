import { EventwireError } from '../core/errors.js'
import { readFunction, readOptionsObject } from '../core/options.js'
import { assertEvent, ListenerRegistry } from '../core/registry.js'
import { createErrorSink, createStats } from '../core/report.js'
import type {
  EventwireStats,
  ListenerOptions,
  NetworkEventTarget,
  TypedEvent,
  TypedEventListenerOrEventListenerObject,
} from '../core/types.js'

export interface InProcessEventTargetOptions {
  /** Receives `ERR_LISTENER_THREW` when a listener throws; the other listeners still run. */
  onError?: (error: EventwireError) => void
}

/**
 * An in-process target. It has the same lifecycle surface as the network targets (`ready`, `flush`,
 * `close`, `stats`) so that swapping the import is the only change when a topology grows.
 */
export type InProcessEventTarget<TEvent extends TypedEvent = TypedEvent> = NetworkEventTarget<TEvent>

export function createInProcessEventTarget<TEvent extends TypedEvent = TypedEvent>(
  options?: InProcessEventTargetOptions,
): InProcessEventTarget<TEvent> {
  return new InProcessTarget<TEvent>(options)
}

class InProcessTarget<TEvent extends TypedEvent> implements InProcessEventTarget<TEvent> {
  readonly ready: Promise<void> = Promise.resolve()
  readonly #stats = createStats()
  readonly #registry: ListenerRegistry
  #isClosed = false

  constructor(options?: InProcessEventTargetOptions) {
    const opts = readOptionsObject(options, 'createInProcessEventTarget')
    this.#registry = new ListenerRegistry({
      owner: this,
      onListenerError: createErrorSink(readFunction('onError', opts.onError), this.#stats),
      onInterest: (_type, isInterested) => {
        this.#stats.subscriptions += isInterested ? 1 : -1
      },
    })
  }

  addEventListener<TCurrEvent extends TEvent>(
    type: TCurrEvent['type'],
    callback: TypedEventListenerOrEventListenerObject<TCurrEvent> | null,
    options?: ListenerOptions | boolean,
  ): void {
    if (this.#isClosed) return
    this.#registry.add(String(type), callback, options)
  }

  removeEventListener<TCurrEvent extends TEvent>(
    type: TCurrEvent['type'],
    callback: TypedEventListenerOrEventListenerObject<TCurrEvent> | null,
    options?: { capture?: boolean } | boolean,
  ): void {
    this.#registry.remove(String(type), callback, options)
  }

  dispatchEvent(event: TEvent): boolean {
    assertEvent(event)
    this.#stats.dispatched++
    this.#stats.delivered += this.#registry.deliver(event)
    return !event.defaultPrevented
  }

  flush(): Promise<void> {
    return this.#isClosed
      ? Promise.reject(new EventwireError('ERR_CLOSED', 'the target is closed'))
      : this.ready
  }

  async close(): Promise<void> {
    this.#isClosed = true
    this.#registry.clear()
    this.#stats.subscriptions = 0
  }

  stats(): EventwireStats {
    return { ...this.#stats }
  }
}
