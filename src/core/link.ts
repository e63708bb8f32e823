/**
 * A link is all a hub/spoke transport supplies: a way to send one encoded frame, a way to close, and
 * optionally how many bytes are still waiting in the platform's send buffer. Decoding, routing,
 * batching, authorization and overflow stay in the core Hub and Spoke.
 */
export interface Link<W = string> {
  /**
   * Sends one encoded message (text for socket links, a frame array for structured-clone links). Must not
   * throw for a closed link: drop the data instead. May throw for data the platform cannot carry (a clone
   * link given an uncloneable detail); the writer then reports the offending events.
   */
  send(data: W): void
  /** Closes the link; the transport then reports `closed()` to the core side. */
  close(code: number, reason: string): void
  /** Bytes accepted by `send` but not yet written to the network (e.g. `WebSocket.bufferedAmount`). */
  bufferedBytes?(): number
}

export interface LinkCloseInfo {
  code?: number
  reason?: string
  error?: Error
}

/** Close codes (WebSocket numbering, used by every link). */
export const CLOSE_NORMAL = 1000
export const CLOSE_GOING_AWAY = 1001
export const CLOSE_PROTOCOL_ERROR = 1002
export const CLOSE_POLICY_VIOLATION = 1008
export const CLOSE_TOO_LARGE = 1009
export const CLOSE_INTERNAL_ERROR = 1011
export const CLOSE_TRY_AGAIN_LATER = 1013
/** Application code: the peer stopped answering heartbeats. */
export const CLOSE_HEARTBEAT_TIMEOUT = 4000
/**
 * Application code: the hub's `authenticate` refused this client. A browser cannot read an HTTP 401 on a
 * WebSocket upgrade, but it can read a close code, so the hub opens the socket and closes it with this.
 */
export const CLOSE_UNAUTHORIZED = 4401
/** Application code: the client's `Origin` is not in the hub's `allowedOrigins` (HTTP 403's meaning). */
export const CLOSE_FORBIDDEN = 4403

/** A random id naming one node of a topology (the origin of its events). */
export function createNodeId(): string {
  const bytes = new Uint8Array(9)
  globalThis.crypto.getRandomValues(bytes)
  let id = ''
  for (const byte of bytes) id += ALPHABET[byte & 63]
  return id
}

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'

const utf8 = new TextDecoder('utf-8', { fatal: true })

/**
 * A received WebSocket or stream message as frame text: strings as they are, binary data read as UTF-8.
 * Anything else, or invalid UTF-8, gives `undefined`, which the decoder refuses as malformed.
 */
export function messageText(data: unknown): string | undefined {
  if (typeof data === 'string') return data
  try {
    if (data instanceof ArrayBuffer || ArrayBuffer.isView(data)) return utf8.decode(data)
  } catch {
    return undefined
  }
  return undefined
}

/**
 * Closes a WebSocket (web-standard, `ws`, or a runtime's) with `code` where it accepts it. The WebSocket
 * API refuses codes other than 1000 and 3000-4999 from scripts, and a runtime's socket may follow it: the
 * socket then closes without a code (a `bye` frame has told the other side the real one). A socket that
 * is already closing may throw too; its close event reports the end.
 */
export function closeWebSocket(
  socket: { close(code?: number, reason?: string): void },
  code: number,
  reason: string,
): void {
  try {
    socket.close(code, reason)
  } catch {
    try {
      socket.close()
    } catch {
      // Already closing.
    }
  }
}
