/**
 * Request/reply on top of any target: `request(target, type, payload)` resolves with the first answer of
 * a `respond(target, type, handler)` anywhere in the topology.
 * @module
 */
export type { ReplyEnvelope, RequestEnvelope, RequestOptions, RespondOptions } from './request-reply.js'
export { request, respond } from './request-reply.js'
