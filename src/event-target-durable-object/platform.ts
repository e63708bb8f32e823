/**
 * The slices of the Workers runtime this transport uses, declared structurally so that these declarations
 * compile without `@cloudflare/workers-types` (and beside the DOM types, which declare `WebSocket`
 * differently). The runtime's own objects satisfy them.
 */

/** A WebSocket the Durable Object accepted with `ctx.acceptWebSocket` (it survives hibernation). */
export interface HibernatableWebSocket {
  readonly readyState: number
  send(message: string): void
  close(code?: number, reason?: string): void
  /** Kept with the socket while the object hibernates; at most 16 KiB once serialized. */
  serializeAttachment(value: unknown): void
  deserializeAttachment(): unknown
}

/** The parts of a Durable Object's `ctx` (`DurableObjectState`) the hub uses. */
export interface DurableObjectStateLike<TSocket extends HibernatableWebSocket = HibernatableWebSocket> {
  readonly id: { toString(): string }
  acceptWebSocket(socket: TSocket, tags?: string[]): void
  getWebSockets(tag?: string): TSocket[]
  setWebSocketAutoResponse?(pair?: unknown): void
}

/** A Durable Object namespace binding, as the Worker in front of the objects sees it. */
export interface DurableObjectNamespaceLike<TId = unknown> {
  idFromName(name: string): TId
  get(id: TId): { fetch(request: Request): Promise<Response> }
}

/** The two ends of a `WebSocketPair`: the first goes to the client in the 101 response. */
type WebSocketPairConstructor = new () => Record<0 | 1, HibernatableWebSocket & { accept?(): void }>
type AutoResponseConstructor = new (request: string, response: string) => unknown

/** A new socket pair; throws outside the Workers runtime, which alone has `WebSocketPair`. */
export function createWebSocketPair(): [
  client: HibernatableWebSocket,
  server: HibernatableWebSocket & { accept?(): void },
] {
  const Pair = (globalThis as { WebSocketPair?: WebSocketPairConstructor }).WebSocketPair
  if (Pair === undefined)
    throw new TypeError('WebSocketPair is missing: this runs in the Workers runtime only')
  const pair = new Pair()
  return [pair[0], pair[1]]
}

/** The runtime's request/response pair for `setWebSocketAutoResponse`; undefined where it has none. */
export function autoResponsePair(request: string, response: string): unknown {
  const Pair = (globalThis as { WebSocketRequestResponsePair?: AutoResponseConstructor })
    .WebSocketRequestResponsePair
  return Pair === undefined ? undefined : new Pair(request, response)
}

/** The 101 answer that hands `client` to the caller (a Workers-only `ResponseInit` member). */
export function upgradeResponse(client: HibernatableWebSocket): Response {
  return new Response(null, { status: 101, webSocket: client } as ResponseInit)
}

export function isWebSocketUpgrade(request: Request): boolean {
  return request.headers.get('upgrade')?.toLowerCase() === 'websocket'
}
