/**
 * The default of every option whose default is a number, in one place: the same option means the same
 * thing, with the same default, on every target that has it. The docs' option tables give these values.
 * (Frame limits are `DEFAULT_FRAME_LIMITS`, in frame.ts, beside `FrameLimits`.)
 */
export const DEFAULTS = Object.freeze({
  // Spokes and peers.
  /** `readyTimeoutMs`: how long `ready` waits for the first connection before it rejects. */
  readyTimeoutMs: 10_000,
  /** `offlineQueueSize`: events dispatched while disconnected, kept and sent once connected. */
  offlineQueueSize: 10_000,
  /** `connectTimeoutMs`: one connection attempt (WebSocket client, iroh spoke). */
  connectTimeoutMs: 10_000,
  /** `reconnect.initialDelayMs` and `reconnect.maxDelayMs`: jittered exponential backoff. */
  reconnectInitialDelayMs: 100,
  reconnectMaxDelayMs: 10_000,
  // Links, on hubs and spokes.
  /** `maxBufferedBytes`: the outbound queue of one link, before `overflow` applies. */
  maxBufferedBytes: 8 * 1024 * 1024,
  // Hubs.
  /** `maxConnections`. */
  maxConnections: 10_000,
  /** `maxSubscriptionsPerConnection`. */
  maxSubscriptionsPerConnection: 10_000,
  /** `maxPublishRatePerConnection`: 0 is no limit. */
  maxPublishRatePerConnection: 0,
  /** `handshakeTimeoutMs`: a link that sends no hello in time is closed. */
  handshakeTimeoutMs: 10_000,
  /** `idleTimeoutMs` of the network hubs (WebSocket, iroh): three missed 15 s pings. The core Hub has 0. */
  networkIdleTimeoutMs: 45_000,
  /** `maxTotalSubscriptions`: interest entries across all links of one hub. */
  maxTotalSubscriptions: 200_000,
  /** `maxTotalBufferedBytes`: bytes held for all links of one hub. */
  maxTotalBufferedBytes: 256 * 1024 * 1024,
  /** `whenSubscribed(type, { timeoutMs })`. */
  whenSubscribedTimeoutMs: 10_000,
  // Request/reply and bridges.
  /** `request(…, { timeoutMs })`. */
  requestTimeoutMs: 10_000,
  /** A bridge's `hopLimit`. */
  hopLimit: 8,
  // History (docs/recovery.md).
  /** `maxEvents`: entries kept per event type. */
  historyMaxEvents: 1_000,
  /** `maxAgeMs`: an entry older than this is no longer replayed. */
  historyMaxAgeMs: 5 * 60 * 1_000,
  /** `maxTotalEvents`: entries kept across all types of one in-memory history. */
  historyMaxTotalEvents: 100_000,
  /** `maxTotalBytes`: estimated bytes kept across all types of one in-memory history. */
  historyMaxTotalBytes: 64 * 1024 * 1024,
  /** `maxTypes`: event types one in-memory history keeps a position for. */
  historyMaxTypes: 10_000,
  /** `limit` of `since`: entries returned at most by one call. */
  historySinceLimit: 1_000,
})
