import { EventwireError } from '../core/errors.js'
import type { HubConnection } from '../core/hub.js'
import { CLOSE_TOO_LARGE, closeWebSocket, type Link, messageText } from '../core/link.js'

const OPEN = 1

/** What a `ws` WebSocket offers (Node); read structurally so this file imports nothing from `ws`. */
export interface WsSocketLike {
  readonly readyState: number
  readonly bufferedAmount: number
  send(data: string): void
  close(code?: number, reason?: string): void
  on(event: 'message', listener: (data: unknown, isBinary: boolean) => void): unknown
  on(event: 'close', listener: (code: number, reason: unknown) => void): unknown
  on(event: 'error', listener: (error: Error) => void): unknown
}

/** What a web-standard `WebSocket` offers (browsers, Deno, Bun, Node 22+). */
export interface WebSocketLike {
  readonly readyState: number
  readonly bufferedAmount: number
  send(data: string): void
  close(code?: number, reason?: string): void
  addEventListener(type: 'message', listener: (event: { data: unknown }) => void): void
  addEventListener(type: 'close', listener: (event: { code: number; reason: string }) => void): void
  addEventListener(type: 'error', listener: (event: unknown) => void): void
}

/** A link over a socket with the web's `send`/`close`/`bufferedAmount`. */
export function socketLink(socket: {
  readonly readyState: number
  readonly bufferedAmount: number
  send(data: string): void
  close(code?: number, reason?: string): void
}): Link {
  return {
    send: (data) => {
      if (socket.readyState === OPEN) socket.send(data)
    },
    close: (code, reason) => closeWebSocket(socket, code, reason),
    bufferedBytes: () => socket.bufferedAmount,
  }
}

/** Feeds a `ws` socket's events into a hub connection. */
export function wireWsSocket(socket: WsSocketLike, connection: HubConnection): void {
  socket.on('message', (data, isBinary) => connection.receive(isBinary ? messageText(data) : String(data)))
  socket.on('close', (code, reason) => connection.closed({ code, reason: String(reason ?? '') }))
  socket.on('error', (error) => socketFailed(connection, error))
}

/**
 * A socket error, reported to the hub connection. `ws` refuses a message past its own `maxPayload` before
 * buffering it and closes with 1009 itself: that is the peer's oversized frame, reported as the hub
 * reports one it reads (`ERR_FRAME_TOO_LARGE`, counted), not as a broken connection.
 */
export function socketFailed(connection: HubConnection, error: unknown): void {
  if ((error as { code?: unknown } | undefined)?.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH') {
    const tooLarge = new EventwireError(
      'ERR_FRAME_TOO_LARGE',
      `connection ${connection.info.id} sent a message over the socket's maxPayload`,
      { cause: error },
    )
    connection.lost(tooLarge)
    connection.closed({ code: CLOSE_TOO_LARGE, error: tooLarge })
    return
  }
  connection.closed({ error: new EventwireError('ERR_CONNECTION', 'socket error', { cause: error }) })
}

/**
 * What the `ws` server under a hub buffers at most per message: twice the hub's `limits.maxFrameBytes`. A message
 * between the two is read and refused by the hub like any oversized frame (an error frame, then 1009);
 * past it, `ws` closes with 1009 before buffering it.
 */
export function socketMaxPayload(maxPayload: number): number {
  return maxPayload * 2
}

/** Feeds a web-standard socket's events into a hub connection. */
export function wireWebSocket(socket: WebSocketLike, connection: HubConnection): void {
  socket.addEventListener('message', (event) => connection.receive(messageText(event.data)))
  socket.addEventListener('close', (event) => connection.closed({ code: event.code, reason: event.reason }))
  socket.addEventListener('error', (event) =>
    connection.closed({ error: new EventwireError('ERR_CONNECTION', 'socket error', { cause: event }) }),
  )
}

export function isWsSocket(socket: unknown): socket is WsSocketLike {
  return (
    typeof socket === 'object' && socket !== null && typeof (socket as { on?: unknown }).on === 'function'
  )
}

export function isWebSocket(socket: unknown): socket is WebSocketLike {
  return (
    typeof socket === 'object' &&
    socket !== null &&
    typeof (socket as { addEventListener?: unknown }).addEventListener === 'function' &&
    typeof (socket as { send?: unknown }).send === 'function'
  )
}
