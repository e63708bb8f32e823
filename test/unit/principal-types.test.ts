import { describe, expectTypeOf, it } from 'vitest'
import { createIrohHubEventTarget } from '../../src/event-target-iroh-hub/index.js'
import {
  createWebSocketServerEventTarget,
  type WebSocketServerEventTarget,
} from '../../src/event-target-websocket-server/index.js'
import type { TypedEvent } from '../../src/index.js'
import { Hub, type HubConnectionInfo } from '../../src/transport/index.js'

/**
 * Compile-time checks (`npm run typecheck`): a hub's `authorize`, `onConnection` and `add` see
 * the principal's type. Nothing here runs a hub; the hubs are created and closed at once.
 */
type AppEvent = TypedEvent<'chat', { text: string }>
interface User {
  name: string
  canPublish(type: string): boolean
}
const users = new Map<string, User>()
const tokenOf = (request: Request) => new URL(request.url).searchParams.get('token') ?? ''

describe('the principal type of a hub', () => {
  it('is inferred from what the WebSocket hub’s authenticate returns', async () => {
    const sync = createWebSocketServerEventTarget({
      authenticate: (request) => users.get(tokenOf(request)),
      authorize: ({ principal, type, connection }) => {
        expectTypeOf(principal).toEqualTypeOf<User>()
        expectTypeOf(connection).toEqualTypeOf<HubConnectionInfo<User>>()
        return principal.canPublish(type)
      },
      onConnection: (connection) => expectTypeOf(connection.principal).toEqualTypeOf<User>(),
    })
    expectTypeOf(sync).toEqualTypeOf<WebSocketServerEventTarget<TypedEvent, User>>()
    expectTypeOf(sync.add).parameter(1).toEqualTypeOf<{ principal?: User } | undefined>()

    const async = createWebSocketServerEventTarget({
      authenticate: async (request) => users.get(tokenOf(request)) ?? null,
      authorize: ({ principal }) => expectTypeOf(principal).toEqualTypeOf<User>() === undefined,
    })
    // A check that admits or refuses: the principal of an admitted client is `true`.
    const flag = createWebSocketServerEventTarget({
      authenticate: (request) => request.headers.has('x-ok'),
      authorize: ({ principal }) => expectTypeOf(principal).toEqualTypeOf<true>() === undefined,
    })
    // The hub still fits where the principal is not named.
    const plain: WebSocketServerEventTarget = sync
    await Promise.all([sync.close(), async.close(), flag.close(), plain.close()])
  })

  it('is the second type argument once the event type is written, and unknown without it', async () => {
    const typed = createWebSocketServerEventTarget<AppEvent, User>({
      authenticate: (request) => users.get(tokenOf(request)),
      authorize: ({ principal, type }) => principal.canPublish(type),
    })
    const wrong = createWebSocketServerEventTarget<AppEvent, User>({
      // @ts-expect-error a string is no User
      authenticate: (request) => tokenOf(request),
    })
    const eventOnly = createWebSocketServerEventTarget<AppEvent>({
      authenticate: (request) => users.get(tokenOf(request)),
      authorize: ({ principal }) => expectTypeOf(principal).toBeUnknown() === undefined,
    })
    await Promise.all([typed.close(), wrong.close(), eventOnly.close()])
  })

  it('is the endpoint id, a string, on the iroh hub, and any type on the core Hub', async () => {
    const iroh = createIrohHubEventTarget({
      authorize: ({ principal }) => expectTypeOf(principal).toEqualTypeOf<string>() === undefined,
      onDisconnection: (connection) => expectTypeOf(connection.principal).toEqualTypeOf<string>(),
    })
    const core = new Hub<AppEvent, string, User>({
      authorize: ({ principal, type }) => principal.canPublish(type),
    })
    expectTypeOf(core.accept).parameter(1).toEqualTypeOf<{ principal?: User } | undefined>()
    await Promise.all([iroh.close(), core.close()])
  })
})
