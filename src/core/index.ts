export type { Backoff, ReconnectOptions } from './backoff.js'
export { backoffDelayMs } from './backoff.js'
export type { CloneFrame, FrameBatchOptions, FrameCodec } from './codec.js'
export { createCloneCodec, createTextCodec } from './codec.js'
export { DEFAULTS } from './defaults.js'
export type { EventwireErrorCode, EventwireErrorOptions, EventwireIssue } from './errors.js'
export { EventwireError, isEventwireErrorCode } from './errors.js'
export { createEvent, RegistryEventTarget } from './event-target.js'
export type { DecodeResult, Feature, Frame, FrameLimits, NodeRole, ResumeOutcome } from './frame.js'
export {
  DEFAULT_FRAME_LIMITS,
  decodeFrames,
  encodeBatch,
  encodeBye,
  encodeError,
  encodeEvent,
  encodeHello,
  encodePing,
  encodePong,
  encodePosition,
  encodeResume,
  encodeResumed,
  encodeSub,
  encodeUnsub,
  PROTOCOL_VERSION,
  validateFrames,
} from './frame.js'
export * from './history.js'
export { eventHops, withHops } from './hops.js'
export type {
  AuthorizeRequest,
  HubAction,
  HubConnection,
  HubConnectionInfo,
  HubOptions,
  WhenSubscribedOptions,
} from './hub.js'
export { Hub } from './hub.js'
export type {
  ByteStream,
  LengthPrefixedFrameHandler,
  LengthPrefixedLink,
  LengthPrefixedLinkOptions,
  LengthPrefixedReceiver,
} from './length-prefixed.js'
export {
  COMPRESSED_FLAG,
  createLengthPrefixedLink,
  encodeLengthPrefixed,
  LENGTH_PREFIX_BYTES,
  LengthPrefixedDecoder,
  MAX_LENGTH_PREFIXED_PAYLOAD,
} from './length-prefixed.js'
export type { Link, LinkCloseInfo } from './link.js'
export {
  CLOSE_FORBIDDEN,
  CLOSE_GOING_AWAY,
  CLOSE_HEARTBEAT_TIMEOUT,
  CLOSE_INTERNAL_ERROR,
  CLOSE_NORMAL,
  CLOSE_POLICY_VIOLATION,
  CLOSE_PROTOCOL_ERROR,
  CLOSE_TOO_LARGE,
  CLOSE_TRY_AGAIN_LATER,
  CLOSE_UNAUTHORIZED,
  createNodeId,
  messageText,
} from './link.js'
export type { LinkWriterOptions, OverflowPolicy, SharedBufferBudget } from './link-writer.js'
export { LinkWriter, SharedChunks } from './link-writer.js'
export type { MemoryConnector, MemoryPair } from './memory-link.js'
export { createMemoryConnector, createMemoryPair } from './memory-link.js'
export { NetworkTargetBase } from './network-target.js'
export type { ListenerRegistryOptions } from './registry.js'
export { assertEvent, ListenerRegistry } from './registry.js'
export type { ErrorSink } from './report.js'
export { createErrorSink, createStats, createStatusSink } from './report.js'
export type { HubHistoryOptions } from './resume.js'
export type {
  DefineEventsOptions,
  DetailCheck,
  EventDeclaration,
  EventSchemas,
  EventsOf,
  EventsOptions,
  SchemaEvents,
  StandardSchemaV1,
  ValidateOptions,
} from './schema.js'
export { createDetailCheck, defineEvents, invalidError, OrderedChecks } from './schema.js'
export { jsonSerializer } from './serializer.js'
export type { SpokeConnector, SpokeLinkHandlers, SpokeOptions } from './spoke.js'
export { Spoke } from './spoke.js'
export type * from './types.js'
