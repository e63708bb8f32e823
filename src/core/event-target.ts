import { EventwireError } from './errors.js'
import { ListenerRegistry } from './registry.js'
import type {
  EventOfType,
  ListenerOptions,
  TypedEvent,
  TypedEventListenerOrEventListenerObject,
  TypedEventTarget,
} from './types.js'

/**
 * The listener half every target shares: `addEventListener` / `removeEventListener` on one
 * `ListenerRegistry`, typed so that a listener for `'chat'` receives the `'chat'` member of the event
 * union. The second overload is `@graphql-yoga/typed-event-target`'s signature, which keeps each target
 * assignable to and from yoga's type. Subclasses implement `dispatchEvent` and the network side.
 */
export abstract class RegistryEventTarget<TEvent extends TypedEvent> implements TypedEventTarget<TEvent> {
  protected readonly registry: ListenerRegistry = new ListenerRegistry({
    owner: this,
    onListenerError: (error) => this.reportError(error),
    onInterest: (type, isInterested) => this.interestChanged(type, isInterested),
  })
  /** Once true, new listeners are ignored (the DOM has no closed state; a closed target stays quiet). */
  protected isClosed = false
  #isClosedDispatchReported = false

  addEventListener<TType extends TEvent['type']>(
    type: TType,
    callback: TypedEventListenerOrEventListenerObject<EventOfType<TEvent, TType>> | null,
    options?: ListenerOptions | boolean,
  ): void
  addEventListener<TCurrEvent extends TEvent>(
    type: TCurrEvent['type'],
    callback: TypedEventListenerOrEventListenerObject<TCurrEvent> | null,
    options?: ListenerOptions | boolean,
  ): void
  addEventListener(type: string, callback: unknown, options?: ListenerOptions | boolean): void {
    if (this.isClosed) return
    this.registry.add(this.eventType(type), callback, options)
  }

  removeEventListener<TType extends TEvent['type']>(
    type: TType,
    callback: TypedEventListenerOrEventListenerObject<EventOfType<TEvent, TType>> | null,
    options?: { capture?: boolean } | boolean,
  ): void
  removeEventListener<TCurrEvent extends TEvent>(
    type: TCurrEvent['type'],
    callback: TypedEventListenerOrEventListenerObject<TCurrEvent> | null,
    options?: { capture?: boolean } | boolean,
  ): void
  removeEventListener(type: string, callback: unknown, options?: { capture?: boolean } | boolean): void {
    this.registry.remove(String(type), callback, options)
  }

  abstract dispatchEvent(event: TEvent): boolean

  /** Receives `ERR_LISTENER_THREW` for each listener that throws. */
  protected abstract readonly reportError: (error: EventwireError) => void

  /**
   * What `dispatchEvent` does on a closed target: delivers nothing and returns `false`. The first such
   * dispatch is reported (`ERR_CLOSED`), so an event sent into a closed target is never lost silently,
   * and a loop that keeps dispatching does not flood `onError`.
   */
  protected refuseClosed(type: string): false {
    if (!this.#isClosedDispatchReported) {
      this.#isClosedDispatchReported = true
      this.reportError(
        new EventwireError(
          'ERR_CLOSED',
          `dispatchEvent("${type}") on a closed target: nothing was delivered`,
          {
            eventType: type,
          },
        ),
      )
    }
    return false
  }

  /** A type gained its first listener or lost its last: network targets tell the network. */
  protected interestChanged(_type: string, _isInterested: boolean): void {}

  /** Validates and normalizes an event type; network targets refuse what the wire cannot carry. */
  protected eventType(type: unknown): string {
    return String(type)
  }
}

/**
 * A `CustomEvent` typed by its literal type and detail, for `dispatchEvent` on a target with a specific
 * event union (`new CustomEvent('chat', …)` has `type: string`, which such a target rejects). `init` is
 * the rest of a `CustomEventInit`, spelled out because Node's types have no global `CustomEventInit`.
 */
export function createEvent<TType extends string, TDetail>(
  type: TType,
  detail: TDetail,
  init?: { bubbles?: boolean; cancelable?: boolean; composed?: boolean },
): TypedEvent<TType, TDetail> {
  return new CustomEvent(type, { ...init, detail }) as unknown as TypedEvent<TType, TDetail>
}
