/**
 * iroh spoke: dials an iroh hub over QUIC (`@number0/iroh`) by its endpoint id, ticket or address, and
 * keeps one bidirectional stream to it: reconnect with backoff, resubscribe, `gap` after each reconnect.
 * @module
 */
export type { IrohSpokeEventTarget, IrohSpokeEventTargetOptions } from './iroh-spoke-event-target.js'
export { createIrohSpokeEventTarget, IROH_ALPN } from './iroh-spoke-event-target.js'
