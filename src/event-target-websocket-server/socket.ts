import { EventwireError } from '../core/errors.js'
import type { HubConnection } from '../core/hub.js'
import { closeWebSocket, type Link, messageText } from '../core/link.js'

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
  socket.on('error', (error) =>
    connection.closed({ error: new EventwireError('ERR_CONNECTION', 'socket error', { cause: error }) }),
  )
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
