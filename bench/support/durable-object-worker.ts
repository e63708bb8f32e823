/**
 * The Worker of bench/durable-object.ts, run in workerd: two Durable Object classes fanning events out to
 * the same kind of room. `Room` is eventwire's hub; `RawRoom` is the hand-written object a user would
 * write: one `JSON.stringify` per event and a loop over `ctx.getWebSockets()` sending it to each socket.
 * `POST /burst/<ours|raw>?count=K` makes the room's object send K events, each a new detail of about 200
 * bytes, all in one task, or each in a task of its own with `&paced=1`. Not a benchmark itself (bench/index.ts runs only the files directly in bench/).
 */
import {
  createDurableObjectEventTarget,
  createDurableObjectGateway,
  type DurableObjectEventTarget,
  type DurableObjectNamespaceLike,
  type DurableObjectStateLike,
  type HibernatableWebSocket,
} from '../../src/event-target-durable-object/index.js'
import { DOWN, detailOf } from './durable-object-common.js'

interface Env {
  ROOMS: DurableObjectNamespaceLike
  RAW_ROOMS: DurableObjectNamespaceLike
}

const ROOM = 'bench'

export class Room {
  readonly #hub: DurableObjectEventTarget

  constructor(ctx: DurableObjectStateLike) {
    this.#hub = createDurableObjectEventTarget(ctx)
  }

  async fetch(request: Request): Promise<Response> {
    const count = burstCount(request)
    if (count === undefined) return this.#hub.fetch(request)
    const paced = isPaced(request)
    for (let n = 0; n < count; n++) {
      this.#hub.dispatchEvent(new CustomEvent(DOWN, { detail: detailOf(DOWN, n) }))
      if (paced) await nextTask()
    }
    return new Response('ok')
  }

  webSocketMessage(socket: HibernatableWebSocket, message: string | ArrayBuffer): void {
    this.#hub.webSocketMessage(socket, message)
  }

  webSocketClose(socket: HibernatableWebSocket, code: number, reason: string): void {
    this.#hub.webSocketClose(socket, code, reason)
  }

  webSocketError(socket: HibernatableWebSocket, error: unknown): void {
    this.#hub.webSocketError(socket, error)
  }
}

export class RawRoom {
  readonly #ctx: DurableObjectStateLike

  constructor(ctx: DurableObjectStateLike) {
    this.#ctx = ctx
  }

  async fetch(request: Request): Promise<Response> {
    const count = burstCount(request)
    if (count === undefined) {
      const pair = new (
        globalThis as unknown as { WebSocketPair: new () => Record<0 | 1, HibernatableWebSocket> }
      ).WebSocketPair()
      this.#ctx.acceptWebSocket(pair[1])
      return new Response(null, { status: 101, webSocket: pair[0] } as ResponseInit)
    }
    const paced = isPaced(request)
    for (let n = 0; n < count; n++) {
      const text = JSON.stringify({ type: DOWN, detail: detailOf(DOWN, n) })
      for (const socket of this.#ctx.getWebSockets()) socket.send(text)
      if (paced) await nextTask()
    }
    return new Response('ok')
  }

  webSocketMessage(): void {}

  webSocketClose(socket: HibernatableWebSocket, code: number, reason: string): void {
    try {
      socket.close(code, reason)
    } catch {
      // Already closed.
    }
  }
}

/** `paced=1`: each event in a task of its own, as events that each arrive in their own message. */
function isPaced(request: Request): boolean {
  return new URL(request.url).searchParams.get('paced') === '1'
}

const nextTask = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 0))

function burstCount(request: Request): number | undefined {
  const url = new URL(request.url)
  if (!url.pathname.startsWith('/burst/')) return undefined
  return Number(url.searchParams.get('count'))
}

const gateway = createDurableObjectGateway<Env>({ namespace: (env) => env.ROOMS, room: () => ROOM })

export default {
  fetch(request: Request, env: Env): Promise<Response> {
    const { pathname } = new URL(request.url)
    const raw = pathname === '/raw' || pathname === '/burst/raw'
    if (pathname === '/ours') return gateway.fetch(request, env)
    const rooms = raw ? env.RAW_ROOMS : env.ROOMS
    return rooms.get(rooms.idFromName(ROOM)).fetch(request)
  },
}
