/**
 * eventwire: one `TypedEventTarget` interface over every transport. The root entry is what an application
 * needs: the types, the error class, `createEvent`, `createPubSub` and request/reply. Each transport has
 * its own subpath (`eventwire/event-target-redis`, …), and what a transport author needs is in
 * `eventwire/transport`. The root entry imports no optional dependency.
 *
 * Until the next minor version, the root entry also exports what moved to `eventwire/transport`, and the
 * operators and envelopes of `eventwire/pubsub` and `eventwire/request-reply`, each marked deprecated
 * (CHANGELOG.md has the table).
 * @module
 */
export type {
  /** @deprecated Import it from `eventwire/transport`. */
  Backoff,
  ReconnectOptions,
} from './core/backoff.js'
export {
  /** @deprecated Import it from `eventwire/transport`. */
  backoffDelayMs,
} from './core/backoff.js'
export type {
  /** @deprecated Import it from `eventwire/transport`. */
  CloneFrame,
  /** @deprecated Import it from `eventwire/transport`. */
  FrameBatchOptions,
  /** @deprecated Import it from `eventwire/transport`. */
  FrameCodec,
} from './core/codec.js'
export {
  /** @deprecated Import it from `eventwire/transport`. */
  createCloneCodec,
  /** @deprecated Import it from `eventwire/transport`. */
  createTextCodec,
} from './core/codec.js'
export type { EventwireErrorCode, EventwireErrorOptions } from './core/errors.js'
export { EventwireError, isEventwireErrorCode } from './core/errors.js'
export {
  createEvent,
  /** @deprecated Import it from `eventwire/transport`. */
  RegistryEventTarget,
} from './core/event-target.js'
export type {
  /** @deprecated Import it from `eventwire/transport`. */
  DecodeResult,
  /** @deprecated Import it from `eventwire/transport`. */
  Feature,
  /** @deprecated Import it from `eventwire/transport`. */
  Frame,
  FrameLimits,
  /** @deprecated Import it from `eventwire/transport`. */
  NodeRole,
} from './core/frame.js'
export {
  /** @deprecated Import it from `eventwire/transport`. */
  DEFAULT_FRAME_LIMITS,
  /** @deprecated Import it from `eventwire/transport`. */
  decodeFrames,
  /** @deprecated Import it from `eventwire/transport`. */
  encodeBatch,
  /** @deprecated Import it from `eventwire/transport`. */
  encodeBye,
  /** @deprecated Import it from `eventwire/transport`. */
  encodeError,
  /** @deprecated Import it from `eventwire/transport`. */
  encodeEvent,
  /** @deprecated Import it from `eventwire/transport`. */
  encodeHello,
  /** @deprecated Import it from `eventwire/transport`. */
  encodePing,
  /** @deprecated Import it from `eventwire/transport`. */
  encodePong,
  /** @deprecated Import it from `eventwire/transport`. */
  encodeSub,
  /** @deprecated Import it from `eventwire/transport`. */
  encodeUnsub,
  /** @deprecated Import it from `eventwire/transport`. */
  PROTOCOL_VERSION,
  /** @deprecated Import it from `eventwire/transport`. */
  validateFrames,
} from './core/frame.js'
export {
  /** @deprecated Import it from `eventwire/transport`. */
  eventHops,
  /** @deprecated Import it from `eventwire/transport`. */
  withHops,
} from './core/hops.js'
export type {
  /** @deprecated Import it from `eventwire/transport`. */
  AuthorizeRequest,
  /** @deprecated Import it from `eventwire/transport`. */
  HubAction,
  /** @deprecated Import it from `eventwire/transport`. */
  HubConnection,
  /** @deprecated Import it from `eventwire/transport`. */
  HubConnectionInfo,
  /** @deprecated Import it from `eventwire/transport`. */
  HubOptions,
  /** @deprecated Import it from `eventwire/transport`. */
  WhenSubscribedOptions,
} from './core/hub.js'
export {
  /** @deprecated Import it from `eventwire/transport`. */
  Hub,
} from './core/hub.js'
export type {
  /** @deprecated Import it from `eventwire/transport`. */
  ByteStream,
  /** @deprecated Import it from `eventwire/transport`. */
  LengthPrefixedFrameHandler,
  /** @deprecated Import it from `eventwire/transport`. */
  LengthPrefixedLink,
  /** @deprecated Import it from `eventwire/transport`. */
  LengthPrefixedLinkOptions,
  /** @deprecated Import it from `eventwire/transport`. */
  LengthPrefixedReceiver,
} from './core/length-prefixed.js'
export {
  /** @deprecated Import it from `eventwire/transport`. */
  COMPRESSED_FLAG,
  /** @deprecated Import it from `eventwire/transport`. */
  createLengthPrefixedLink,
  /** @deprecated Import it from `eventwire/transport`. */
  encodeLengthPrefixed,
  /** @deprecated Import it from `eventwire/transport`. */
  LENGTH_PREFIX_BYTES,
  /** @deprecated Import it from `eventwire/transport`. */
  LengthPrefixedDecoder,
  /** @deprecated Import it from `eventwire/transport`. */
  MAX_LENGTH_PREFIXED_PAYLOAD,
} from './core/length-prefixed.js'
export type {
  /** @deprecated Import it from `eventwire/transport`. */
  Link,
  /** @deprecated Import it from `eventwire/transport`. */
  LinkCloseInfo,
} from './core/link.js'
export {
  /** @deprecated Import it from `eventwire/transport`. */
  CLOSE_FORBIDDEN,
  /** @deprecated Import it from `eventwire/transport`. */
  CLOSE_GOING_AWAY,
  /** @deprecated Import it from `eventwire/transport`. */
  CLOSE_HEARTBEAT_TIMEOUT,
  /** @deprecated Import it from `eventwire/transport`. */
  CLOSE_INTERNAL_ERROR,
  /** @deprecated Import it from `eventwire/transport`. */
  CLOSE_NORMAL,
  /** @deprecated Import it from `eventwire/transport`. */
  CLOSE_POLICY_VIOLATION,
  /** @deprecated Import it from `eventwire/transport`. */
  CLOSE_PROTOCOL_ERROR,
  /** @deprecated Import it from `eventwire/transport`. */
  CLOSE_TOO_LARGE,
  /** @deprecated Import it from `eventwire/transport`. */
  CLOSE_TRY_AGAIN_LATER,
  /** @deprecated Import it from `eventwire/transport`. */
  CLOSE_UNAUTHORIZED,
  /** @deprecated Import it from `eventwire/transport`. */
  createNodeId,
  /** @deprecated Import it from `eventwire/transport`. */
  messageText,
} from './core/link.js'
export type {
  /** @deprecated Import it from `eventwire/transport`. */
  LinkWriterOptions,
  OverflowPolicy,
  /** @deprecated Import it from `eventwire/transport`. */
  SharedBufferBudget,
} from './core/link-writer.js'
export {
  /** @deprecated Import it from `eventwire/transport`. */
  LinkWriter,
  /** @deprecated Import it from `eventwire/transport`. */
  SharedChunks,
} from './core/link-writer.js'
export type {
  /** @deprecated Import it from `eventwire/transport`. */
  MemoryConnector,
  /** @deprecated Import it from `eventwire/transport`. */
  MemoryPair,
} from './core/memory-link.js'
export {
  /** @deprecated Import it from `eventwire/transport`. */
  createMemoryConnector,
  /** @deprecated Import it from `eventwire/transport`. */
  createMemoryPair,
} from './core/memory-link.js'
export type {
  /** @deprecated Import it from `eventwire/transport`. */
  ListenerRegistryOptions,
} from './core/registry.js'
export {
  /** @deprecated Import it from `eventwire/transport`. */
  assertEvent,
  /** @deprecated Import it from `eventwire/transport`. */
  ListenerRegistry,
} from './core/registry.js'
export type {
  /** @deprecated Import it from `eventwire/transport`. */
  ErrorSink,
} from './core/report.js'
export {
  /** @deprecated Import it from `eventwire/transport`. */
  createErrorSink,
  /** @deprecated Import it from `eventwire/transport`. */
  createStats,
  /** @deprecated Import it from `eventwire/transport`. */
  createStatusSink,
} from './core/report.js'
// The declaration of a topology's events is written by applications: `defineEvents` and the helper that
// names its union are here; the rest of the schema vocabulary is in `eventwire/transport`.
export type { EventsOf } from './core/schema.js'
export { defineEvents } from './core/schema.js'
export {
  /** @deprecated Import it from `eventwire/transport`. */
  jsonSerializer,
} from './core/serializer.js'
export type {
  /** @deprecated Import it from `eventwire/transport`. */
  SpokeConnector,
  /** @deprecated Import it from `eventwire/transport`. */
  SpokeLinkHandlers,
  /** @deprecated Import it from `eventwire/transport`. */
  SpokeOptions,
} from './core/spoke.js'
export {
  /** @deprecated Import it from `eventwire/transport`. */
  Spoke,
} from './core/spoke.js'
export type * from './core/types.js'
export type {
  /** @deprecated Import it from `eventwire/pubsub`. */
  BatchOptions,
  /** @deprecated Import it from `eventwire/pubsub`. */
  DedupeOptions,
  PubSub,
  PubSubBufferOptions,
  PubSubBufferPolicy,
  /** @deprecated Import it from `eventwire/pubsub`. */
  PubSubDrop,
  /** @deprecated Import it from `eventwire/pubsub`. */
  PubSubEvent,
  PubSubEventTarget,
  PubSubIterator,
  PubSubOptions,
  /** @deprecated Import it from `eventwire/pubsub`. */
  PubSubPublishArgsByKey,
  PubSubStats,
} from './pubsub/index.js'
export {
  /** @deprecated Import it from `eventwire/pubsub`. */
  batch,
  createPubSub,
  /** @deprecated Import it from `eventwire/pubsub`. */
  dedupe,
  /** @deprecated Import it from `eventwire/pubsub`. */
  filter,
  /** @deprecated Import it from `eventwire/pubsub`. */
  map,
  /** @deprecated Import it from `eventwire/pubsub`. */
  merge,
  /** @deprecated Import it from `eventwire/pubsub`. */
  pipe,
  /** @deprecated Import it from `eventwire/pubsub`. */
  take,
} from './pubsub/index.js'
export type {
  /** @deprecated Import it from `eventwire/request-reply`. */
  ReplyEnvelope,
  /** @deprecated Import it from `eventwire/request-reply`. */
  RequestEnvelope,
  RequestOptions,
  RespondOptions,
} from './request-reply/index.js'
export { request, respond } from './request-reply/index.js'
