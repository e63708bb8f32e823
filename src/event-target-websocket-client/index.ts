/**
 * WebSocket spoke for browsers and Node: one `TypedEventTarget` connected to a hub, with reconnect,
 * resubscribe, heartbeats, an optional offline queue and a `gap` status after each reconnect.
 * @module
 */
export type {
  WebSocketClientEventTarget,
  WebSocketClientEventTargetOptions,
  WebSocketConstructor,
  WebSocketInstance,
} from './websocket-client-event-target.js'
export { createWebSocketClientEventTarget } from './websocket-client-event-target.js'
