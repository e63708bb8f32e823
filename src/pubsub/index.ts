/**
 * Typed publish/subscribe over any eventwire target, source-compatible with `@graphql-yoga/subscription`
 * (switch by changing the import). Every subscription is a bounded buffer with a named overflow policy;
 * the operators work on any async iterable and stop their source the moment they are returned.
 * @module
 */
export type {
  PubSub,
  PubSubBufferOptions,
  PubSubEvent,
  PubSubEventTarget,
  PubSubOptions,
  PubSubPublishArgsByKey,
  PubSubTopicsOf,
} from './create-pub-sub.js'
export { createPubSub } from './create-pub-sub.js'
export type { PubSubIterator } from './iterator.js'
export type { BatchOptions } from './operator/batch.js'
export { batch } from './operator/batch.js'
export type { DedupeOptions } from './operator/dedupe.js'
export { dedupe } from './operator/dedupe.js'
export { filter } from './operator/filter.js'
export { map } from './operator/map.js'
export { merge } from './operator/merge.js'
export { pipe } from './operator/pipe.js'
export { take } from './operator/take.js'
export type { PubSubBufferPolicy, PubSubDrop, PubSubStats } from './subscription-buffer.js'
