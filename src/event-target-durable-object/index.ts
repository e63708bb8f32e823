/**
 * Durable Object hub: a Cloudflare Durable Object as the hub of a room, with the WebSocket Hibernation
 * API. The object's hub keeps each connection's interest and principal in its socket's attachment, so it
 * wakes from hibernation with its routing intact; `createDurableObjectGateway` is the Worker in front,
 * which authenticates and routes each upgrade to the object of its room. Spokes are the WebSocket client.
 * @module
 */
export type { AuthorizeRequest, HubConnectionInfo, WhenSubscribedOptions } from '../core/hub.js'
export type {
  DurableObjectEventTarget,
  DurableObjectEventTargetOptions,
} from './durable-object-hub.js'
export { createDurableObjectEventTarget } from './durable-object-hub.js'
export type { DurableObjectGateway, DurableObjectGatewayOptions } from './gateway.js'
export { createDurableObjectGateway } from './gateway.js'
export type { DurableObjectNamespaceLike, DurableObjectStateLike, HibernatableWebSocket } from './platform.js'
export { PRINCIPAL_HEADER } from './principal-header.js'
