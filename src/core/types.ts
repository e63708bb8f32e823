/**
 * The contract every eventwire target keeps: the Web-standard listener trio with typed event names and
 * details. Structurally identical to `@graphql-yoga/typed-event-target`, so targets are assignable both
 * ways and work as the `eventTarget` of yoga's `createPubSub`.
 */

/** A `CustomEvent` whose `type` is narrowed to a literal event name. */
export type TypedEvent<TType extends string = string, TDetail = unknown> = Omit<
  CustomEvent<TDetail>,
  'detail' | 'type'
> & {
  readonly type: TType
  readonly detail: TDetail
}

export type TypedEventListener<TEvent extends TypedEvent> = (evt: TEvent) => void

export interface TypedEventListenerObject<TEvent extends TypedEvent> {
  handleEvent(object: TEvent): void
}

export type TypedEventListenerOrEventListenerObject<TEvent extends TypedEvent> =
  | TypedEventListener<TEvent>
  | TypedEventListenerObject<TEvent>

/**
 * The member of the event union whose `type` is `TType`; the whole union when `type` is a plain `string`
 * (an untyped target), so untyped code keeps working.
 */
export type EventOfType<TEvent extends TypedEvent, TType extends string> = [
  Extract<TEvent, { type: TType }>,
] extends [never]
  ? TEvent
  : Extract<TEvent, { type: TType }>

/** Options of `addEventListener`; a boolean means `capture`, as in the DOM. */
export interface ListenerOptions {
  /** Remove the listener after its first call. */
  once?: boolean
  /** Remove the listener when this signal aborts; an already aborted signal adds nothing. */
  signal?: AbortSignal
  /** Kept only as part of the listener's identity, as in the DOM: there is no tree to capture through. */
  capture?: boolean
  /** Accepted for DOM compatibility; it changes nothing here. */
  passive?: boolean
}

/**
 * Structurally an `EventTarget`: anything that accepts one accepts this, and it is assignable to and from
 * `@graphql-yoga/typed-event-target`'s `TypedEventTarget`.
 */
export interface TypedEventTarget<TEvent extends TypedEvent> extends EventTarget {
  /** Adds a listener; the event it receives is the member of the union whose `type` is `type`. */
  addEventListener<TType extends TEvent['type']>(
    type: TType,
    callback: TypedEventListenerOrEventListenerObject<EventOfType<TEvent, TType>> | null,
    options?: ListenerOptions | boolean,
  ): void
  /** `@graphql-yoga/typed-event-target`'s signature, kept so the two types are assignable both ways. */
  addEventListener<TCurrEvent extends TEvent>(
    type: TCurrEvent['type'],
    callback: TypedEventListenerOrEventListenerObject<TCurrEvent> | null,
    options?: ListenerOptions | boolean,
  ): void
  dispatchEvent(event: TEvent): boolean
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
}

/** Counters every target keeps; a snapshot is returned by `stats()`. */
export interface EventwireStats {
  /** Events handed to `dispatchEvent` on this node. */
  dispatched: number
  /** Listener calls made on this node (local and remote events). */
  delivered: number
  /** Messages written to the network (a batch counts once per event it carries). */
  sent: number
  /** Events received from the network. */
  received: number
  /** Events or frames dropped: malformed input, overflow, offline without a queue, refused. */
  dropped: number
  /** Links currently open (a hub counts its spokes, a spoke its hub). */
  connections: number
  /** Event types this node currently has interest in on the network. */
  subscriptions: number
  /** Successful reconnects after the first connect. */
  reconnects: number
  /** Errors reported through `onError`. */
  errors: number
}

/** Lifecycle status of a network target, a union on `type`. Never dispatched as an application event. */
export type EventwireStatus =
  | { type: 'connecting' }
  | { type: 'connected' }
  | { type: 'disconnected'; error?: Error }
  | { type: 'reconnecting'; attempt: number; delayMs: number }
  /**
   * Delivery resumed after an interruption: events dispatched elsewhere between `since` and `until`
   * (epoch ms) may have been lost. Refetch state if it matters. With `eventType`, only events of that
   * type, which a hub with history could not replay, for `reason` (docs/recovery.md); without it, every
   * type the node listens to that was not recovered.
   */
  | {
      type: 'gap'
      since: number
      until: number
      eventType?: string
      reason?: 'epoch' | 'too-old' | 'ahead' | 'unavailable'
    }
  /**
   * After a reconnect, a hub with history replayed the `count` events of `eventType` this node missed,
   * in order, before the live ones: nothing of that type was lost (docs/recovery.md).
   */
  | { type: 'recovered'; eventType: string; count: number }
  | { type: 'closed' }

/** Turns event details into text for the wire and back. Both ends of a topology must use the same one. */
export interface Serializer {
  stringify(value: unknown): string
  parse(text: string): unknown
}

/** Options every network target shares. */
export interface NetworkEventTargetOptions {
  /**
   * Encodes event details for the wire. Both ends must use the same serializer.
   * @default JSON
   */
  serializer?: Serializer
  /** Receives every asynchronous error (network, decode, listener threw). */
  onError?: (error: import('./errors.js').EventwireError) => void
  /** Receives lifecycle changes: connecting, connected, disconnected, reconnecting, gap, closed. */
  onStatus?: (status: EventwireStatus) => void
}

/** Lifecycle surface shared by network targets. */
export interface NetworkEventTarget<TEvent extends TypedEvent> extends TypedEventTarget<TEvent> {
  /** This node's id: the origin its events carry (random unless the target's options set it). */
  readonly nodeId: string
  /** Resolves once connected and the current interest is registered; rejects if closed first. */
  readonly ready: Promise<void>
  /**
   * Resolves once everything this node sent so far (events, subscriptions) has been processed by the
   * other side. Use it to know a new listener's interest has reached the network. Hubs are the
   * exception: a hub's `flush()` only writes what is queued toward its spokes and waits for none of them
   * (see `Hub.flush`).
   */
  flush(): Promise<void>
  /** Stops the target: idempotent, releases every socket, timer and listener it owns. */
  close(): Promise<void>
  stats(): EventwireStats
}
