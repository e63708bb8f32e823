/**
 * iroh hub: fans events out to spokes that dial its endpoint over QUIC (`@number0/iroh`), one
 * bidirectional stream per spoke, length-prefixed frames. Spokes are known by their endpoint id.
 * @module
 */
export type { AuthorizeRequest, HubConnectionInfo, WhenSubscribedOptions } from '../core/hub.js'
export type { IrohHubEventTarget, IrohHubEventTargetOptions } from './iroh-hub-event-target.js'
export { createIrohHubEventTarget, IROH_ALPN } from './iroh-hub-event-target.js'
