import { Hono } from 'hono'
import {
  createDurableObjectEventTarget,
  createDurableObjectGateway,
  type DurableObjectEventTarget,
  type DurableObjectNamespaceLike,
  type DurableObjectStateLike,
  type HibernatableWebSocket,
} from '../../../src/event-target-durable-object/index.js'
import type { EventwireError, TypedEvent } from '../../../src/index.js'

// The Worker and Durable Object the tests run in workerd: a hub object per room, the gateway in front on
// a Hono route, and a control route per room that reads the object's state and dispatches from it.

interface Env {
  ROOMS: DurableObjectNamespaceLike
}

interface User {
  name: string
  /** Types this user may publish and subscribe to; every type when absent. */
  may?: string[]
}

const USERS: Record<string, User> = {
  alice: { name: 'alice' },
  bob: { name: 'bob', may: ['chat', 'whoami', 'you-are', 'probe'] },
  // More than a socket's attachment holds.
  huge: { name: 'h'.repeat(17_000) },
}

/** How many hub objects this isolate has constructed: it grows when an evicted object wakes. */
let constructed = 0

export class Room {
  readonly #hub: DurableObjectEventTarget<TypedEvent, User>
  readonly #instance: number
  readonly #errors: string[] = []

  constructor(ctx: DurableObjectStateLike) {
    this.#instance = ++constructed
    const errors = this.#errors
    const hub = createDurableObjectEventTarget<TypedEvent, User>(ctx, {
      onError: (error: EventwireError) => {
        if (errors.length < 200) errors.push(`${error.code}: ${error.message}`)
      },
      authorize: ({ principal, type }) => principal === undefined || (principal.may?.includes(type) ?? true),
      limits: { maxFrameBytes: 2_000_000 },
      maxSubscriptionsPerConnection: 100,
      // Each connection answers `whoami` with what the hub knows of it, after a wake too.
      onConnection: (connection) => {
        const target = hub.connectionTarget(connection.id)
        target?.addEventListener('whoami', () =>
          target.dispatchEvent(
            new CustomEvent('you-are', {
              detail: {
                id: connection.id,
                principal: connection.principal ?? null,
                instance: this.#instance,
              },
            }),
          ),
        )
      },
    })
    this.#hub = hub
    // The hub's own listener: it aggregates what spokes publish and answers in the room.
    hub.addEventListener('echo', (event) =>
      hub.dispatchEvent(
        new CustomEvent('echoed', {
          detail: { detail: (event as CustomEvent).detail, instance: this.#instance },
        }),
      ),
    )
  }

  async fetch(request: Request): Promise<Response> {
    const url = new URL(request.url)
    if (url.pathname.startsWith('/control/')) return this.#control(url, request)
    return this.#hub.fetch(request)
  }

  webSocketMessage(socket: HibernatableWebSocket, message: string | ArrayBuffer): void {
    this.#hub.webSocketMessage(socket, message)
  }

  webSocketClose(socket: HibernatableWebSocket, code: number, reason: string, wasClean: boolean): void {
    this.#hub.webSocketClose(socket, code, reason, wasClean)
  }

  webSocketError(socket: HibernatableWebSocket, error: unknown): void {
    this.#hub.webSocketError(socket, error)
  }

  async #control(url: URL, request: Request): Promise<Response> {
    const action = url.pathname.split('/').at(-1)
    if (action === 'dispatch') {
      const { type, detail } = (await request.json()) as { type: string; detail: unknown }
      this.#hub.dispatchEvent(new CustomEvent(type, { detail }))
    }
    return Response.json({
      instance: this.#instance,
      constructed,
      stats: this.#hub.stats(),
      remoteTypes: this.#hub.remoteTypes().sort(),
      connections: this.#hub.connections(),
      errors: this.#errors,
    })
  }
}

const gateway = createDurableObjectGateway<Env, User>({
  namespace: (env) => env.ROOMS,
  room: (request) => new URL(request.url).pathname.split('/')[2],
  authenticate: (request) => {
    const token = new URL(request.url).searchParams.get('token')
    return token === null ? { name: 'anonymous' } : USERS[token]
  },
})

const app = new Hono<{ Bindings: Env }>()
app.get('/rooms/:room', (c) => gateway.fetch(c.req.raw, c.env))
app.all('/control/:room/:action', (c) => {
  const rooms = c.env.ROOMS
  return rooms.get(rooms.idFromName(c.req.param('room'))).fetch(c.req.raw)
})
// The isolate's own count, read without waking any object.
app.get('/constructed', (c) => c.text(String(constructed)))

export default app
