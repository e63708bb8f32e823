/**
 * WebSocket hub: fans events out to spokes by interest. Spokes get in through a plain Node `http.Server`
 * (`attach`), a Hono route on any runtime (`upgrade`), or as sockets your framework already upgraded
 * (`accept`).
 * @module
 */
export type { AuthorizeRequest, HubConnectionInfo, WhenSubscribedOptions } from '../core/hub.js'
export type { Attachment, AttachOptions } from './node.js'
export type {
  HonoContextLike,
  HonoMiddleware,
  HonoUpgradeWebSocket,
  HonoWebSocketEvents,
  HonoWebSocketLike,
  WebSocketServerEventTarget,
  WebSocketServerEventTargetOptions,
} from './websocket-server-event-target.js'
export { createWebSocketServerEventTarget } from './websocket-server-event-target.js'
