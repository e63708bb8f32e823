import { invalidOption } from '../core/errors.js'
import { readFunction, readOptionsObject, readPositiveInteger } from '../core/options.js'
import type { EventDeclaration } from '../core/schema.js'
import type { TypedEvent, TypedEventTarget } from '../core/types.js'
import { createInProcessEventTarget } from '../event-target-in-process/in-process-event-target.js'
import type { PubSubIterator } from './iterator.js'
import {
  type PubSubBufferPolicy,
  type PubSubDrop,
  type PubSubStats,
  SubscriptionBuffer,
  type SubscriptionContext,
} from './subscription-buffer.js'

/**
 * Topic name → publish arguments: `[]` (no payload), `[payload]`, or `[id, payload]` for topics
 * subscribed per id. The same shape as `@graphql-yoga/subscription`.
 */
export type PubSubPublishArgsByKey = {
  [key: string]: [] | [unknown] | [number | string, unknown]
}

/** The topics of an event union (`EventsOf<typeof events>`): one per type, published with its detail. */
export type PubSubTopicsOf<TEvent extends TypedEvent> = {
  [TType in TEvent['type']]: [Extract<TEvent, { type: TType }>['detail']]
}

type MapToNull<T> = T extends undefined ? null : T

type Topic<TTopicMap extends PubSubPublishArgsByKey> = Extract<keyof TTopicMap, string>

/** The event dispatched for a topic: a `CustomEvent` whose `detail` is the payload. */
export type PubSubEvent<
  TTopicMap extends PubSubPublishArgsByKey,
  TKey extends Topic<TTopicMap>,
> = CustomEvent<TTopicMap[TKey][1] extends undefined ? TTopicMap[TKey][0] : TTopicMap[TKey][1]>

/** Any target carrying the events of a topic map: every eventwire target, yoga's, or a plain `EventTarget`. */
export type PubSubEventTarget<TTopicMap extends PubSubPublishArgsByKey> = TypedEventTarget<
  PubSubEvent<TTopicMap, Topic<TTopicMap>>
>

/** Bounds every subscription's buffer. There is no unbounded setting. */
export interface PubSubBufferOptions {
  /**
   * Most values one subscription holds while its consumer is busy; past it `policy` applies.
   * A positive integer; memory grows with use, up to this many values per subscription.
   * @default 1024
   * @see policy
   */
  size?: number
  /**
   * What a full buffer does with the next value: `'drop-oldest'` discards the oldest buffered value,
   * `'drop-newest'` discards the incoming one, `'error'` ends the subscription with `ERR_OVERFLOW`.
   * Every discarded value is counted in `stats().dropped` and reported to `onDrop`.
   * @default 'drop-oldest'
   * @see size
   */
  policy?: PubSubBufferPolicy
}

export interface PubSubOptions<TTopicMap extends PubSubPublishArgsByKey> {
  /**
   * Where events are dispatched and listened for. Any eventwire target (Redis, WebSocket, workers) turns
   * this into a distributed pub/sub; yoga's event targets and a plain `EventTarget` work too.
   * @default createInProcessEventTarget()
   */
  eventTarget?: PubSubEventTarget<TTopicMap>
  /**
   * Bounds each subscription's buffer of values not yet read by its consumer.
   * @default { size: 1024, policy: 'drop-oldest' }
   */
  buffer?: PubSubBufferOptions
  /**
   * Called synchronously, inside the dispatch, each time a full buffer discards values. If it throws, the
   * error is reported like an uncaught listener error (`ERR_LISTENER_THREW`) and delivery goes on.
   * @default undefined (drops are only counted)
   */
  onDrop?: (drop: PubSubDrop) => void
}

export type PubSub<TTopicMap extends PubSubPublishArgsByKey> = {
  /**
   * Publish a value for a given topic: `publish(topic)`, `publish(topic, payload)` or
   * `publish(topic, id, payload)`. Dispatches a `CustomEvent` named `topic` (or `` `${topic}:${id}` ``)
   * whose `detail` is the payload, `null` when there is none.
   */
  publish<TKey extends Topic<TTopicMap>>(routingKey: TKey, ...args: TTopicMap[TKey]): void
  /**
   * Subscribe to a topic, or to one id of it. The listener is added before this returns, so nothing
   * published afterwards is missed. Stop with `return()`, or by leaving a `for await` loop.
   */
  subscribe<TKey extends Topic<TTopicMap>>(
    ...[routingKey, id]: TTopicMap[TKey][1] extends undefined ? [TKey] : [TKey, TTopicMap[TKey][0]]
  ): PubSubIterator<
    TTopicMap[TKey][1] extends undefined ? MapToNull<TTopicMap[TKey][0]> : MapToNull<TTopicMap[TKey][1]>
  >
  /** A snapshot of the counters. */
  stats(): PubSubStats
}

const DEFAULT_BUFFER_SIZE = 1024
const DEFAULT_BUFFER_POLICY: PubSubBufferPolicy = 'drop-oldest'

/**
 * Typed publish/subscribe over any event target, source-compatible with `@graphql-yoga/subscription`:
 * switching is a change of import. Each subscription is a bounded, hand-written async iterator.
 *
 * With `events` (a `defineEvents` declaration) the topics are its event types, each published with its
 * detail; without an `eventTarget`, the in-process target made for it checks what is published. A given
 * `eventTarget` checks according to its own `events`: give it the same declaration.
 */
export function createPubSub<
  TTopicMap extends PubSubPublishArgsByKey = PubSubPublishArgsByKey,
  TEvent extends TypedEvent = never,
>(
  config?: PubSubOptions<TTopicMap> & {
    /** The topology's events (`defineEvents`): the topics and their payloads are taken from it. */
    events?: EventDeclaration<TEvent>
  },
): PubSub<[TEvent] extends [never] ? TTopicMap : PubSubTopicsOf<TEvent>> {
  const options = readOptionsObject(config, 'createPubSub')
  // Plain-JS code migrating from yoga would otherwise lose its buffer setting without a word.
  if ('repeaterBuffer' in options) {
    invalidOption('repeaterBuffer', 'absent (use buffer: { size, policy })', options.repeaterBuffer)
  }
  const target: EventTarget = readEventTarget(options.eventTarget, options.events)
  const buffer = readBufferOptions(options.buffer)
  const stats: PubSubStats = { published: 0, delivered: 0, dropped: 0, subscriptions: 0 }
  const context: SubscriptionContext = {
    target,
    size: readPositiveInteger('buffer.size', buffer.size, DEFAULT_BUFFER_SIZE),
    policy: readPolicy(buffer.policy),
    onDrop: readFunction<(drop: PubSubDrop) => void>('onDrop', options.onDrop),
    stats,
  }

  // Plain closures rather than class methods: yoga's pubsub survives `const { publish } = pubSub`.
  function publish(topic: string, ...args: unknown[]): void {
    let eventType = readTopic(topic)
    let payload = args[0]
    // The arity, not `args[1] === undefined` as in yoga, decides whether an id was given: yoga sends
    // `publish(t, id, undefined)` to `t` with the id as payload, and `publish(t, id, null)` with the id as
    // payload too.
    if (args.length >= 2) {
      eventType = `${topic}:${readId(args[0])}`
      payload = args[1]
    }
    stats.published++
    target.dispatchEvent(new CustomEvent(eventType, { detail: payload === undefined ? null : payload }))
  }

  function subscribe(topic: string, id?: unknown): PubSubIterator<unknown> {
    const eventType = id === undefined ? readTopic(topic) : `${readTopic(topic)}:${readId(id)}`
    return new SubscriptionBuffer<unknown>(context, eventType)
  }

  return {
    publish,
    subscribe,
    stats: () => ({ ...stats }),
  } as PubSub<[TEvent] extends [never] ? TTopicMap : PubSubTopicsOf<TEvent>>
}

function readEventTarget(value: unknown, events: EventDeclaration | undefined): EventTarget {
  if (value === undefined) return createInProcessEventTarget({ events })
  const target = value as Partial<Record<keyof EventTarget, unknown>> | null
  if (
    typeof target !== 'object' ||
    target === null ||
    typeof target.addEventListener !== 'function' ||
    typeof target.removeEventListener !== 'function' ||
    typeof target.dispatchEvent !== 'function'
  ) {
    invalidOption(
      'eventTarget',
      'an object with addEventListener(), removeEventListener() and dispatchEvent()',
      value,
    )
  }
  return value as EventTarget
}

function readBufferOptions(value: unknown): PubSubBufferOptions {
  if (value === undefined) return {}
  if (typeof value !== 'object' || value === null) invalidOption('buffer', 'an object', value)
  return value
}

function readPolicy(value: unknown): PubSubBufferPolicy {
  if (value === undefined) return DEFAULT_BUFFER_POLICY
  if (value !== 'drop-oldest' && value !== 'drop-newest' && value !== 'error') {
    invalidOption('buffer.policy', "'drop-oldest', 'drop-newest' or 'error'", value)
  }
  return value
}

function readTopic(value: unknown): string {
  if (typeof value !== 'string' || value === '') invalidOption('topic', 'a non-empty string', value)
  return value
}

function readId(value: unknown): string | number {
  if (typeof value !== 'string' && typeof value !== 'number')
    invalidOption('id', 'a string or a number', value)
  return value
}
