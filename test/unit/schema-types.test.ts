import { Redis } from 'ioredis'
import { describe, expectTypeOf, it } from 'vitest'
import { z } from 'zod'
import { createRedisEventTarget, type RedisEventTarget } from '../../src/event-target-redis/index.js'
import {
  createWebSocketClientEventTarget,
  type WebSocketClientEventTarget,
} from '../../src/event-target-websocket-client/index.js'
import {
  createWebSocketServerEventTarget,
  type WebSocketServerEventTarget,
} from '../../src/event-target-websocket-server/index.js'
import { createEvent, createPubSub, defineEvents, type EventsOf, type TypedEvent } from '../../src/index.js'

/**
 * Compile-time checks (`npm run typecheck`): one declaration types a WebSocket hub, its clients, a Redis
 * target and `createPubSub`, and the compiler refuses a wrong detail, a type that is not declared and a
 * wrong id. Nothing connects: the targets are created and closed at once.
 */
const events = defineEvents({
  chat: z.object({ room: z.string(), text: z.string() }),
  join: z.object({ room: z.string(), user: z.object({ id: z.uuid(), name: z.string() }) }),
})
type AppEvent = EventsOf<typeof events>

describe('one declaration types every target', () => {
  it('names the union: one TypedEvent per declared type, with the schema’s input as the detail', () => {
    expectTypeOf<AppEvent>().toEqualTypeOf<
      | TypedEvent<'chat', { room: string; text: string }>
      | TypedEvent<'join', { room: string; user: { id: string; name: string } }>
    >()
  })

  it('types a WebSocket hub, its clients, a Redis target and createPubSub from `events`', async () => {
    const hub = createWebSocketServerEventTarget({
      events,
      authenticate: (request) => request.headers.get('x-user') ?? undefined,
      authorize: ({ principal }) => principal.length > 0,
    })
    expectTypeOf(hub).toEqualTypeOf<WebSocketServerEventTarget<AppEvent, string>>()
    const client = createWebSocketClientEventTarget({ url: 'ws://127.0.0.1:1/ws', events, reconnect: false })
    expectTypeOf(client).toEqualTypeOf<WebSocketClientEventTarget<AppEvent>>()
    // Compiled, never called: it would dial Redis.
    const redisTarget = () =>
      createRedisEventTarget({ publishClient: new Redis(), subscribeClient: new Redis(), events })
    expectTypeOf<ReturnType<typeof redisTarget>>().toEqualTypeOf<RedisEventTarget<AppEvent>>()
    const redis = {} as ReturnType<typeof redisTarget>
    const pubSub = createPubSub({ eventTarget: client, events })

    client.addEventListener('join', (event) => {
      expectTypeOf(event.detail.user.id).toEqualTypeOf<string>()
    })
    hub.dispatchEvent(createEvent('chat', { room: 'a', text: 'hi' }))
    pubSub.publish('chat', { room: 'a', text: 'hi' })
    expectTypeOf(pubSub.subscribe('join')).toEqualTypeOf<ReturnType<typeof pubSub.subscribe<'join'>>>()

    // Compiled, never called: the schemas would refuse these at run time too.
    const refused = () => {
      // @ts-expect-error a wrong detail: text must be a string
      client.dispatchEvent(createEvent('chat', { room: 'a', text: 1 }))
      // @ts-expect-error a type that is not declared
      redis.dispatchEvent(createEvent('leave', { room: 'a' }))
      // @ts-expect-error a type that is not declared
      client.addEventListener('leave', () => {})
      // @ts-expect-error a wrong id: the user's id is a string (a uuid), not a number
      hub.dispatchEvent(createEvent('join', { room: 'a', user: { id: 7, name: 'ada' } }))
      // @ts-expect-error a wrong detail on the pub/sub: a room is missing
      pubSub.publish('chat', { text: 'hi' })
      // @ts-expect-error a topic that is not declared
      pubSub.publish('leave', { room: 'a' })
      // @ts-expect-error an id where the declaration has none: a declared topic is published with its detail
      pubSub.publish('chat', 'room-1', { room: 'a', text: 'hi' })
    }
    expectTypeOf(refused).toBeFunction()

    await Promise.all([hub.close(), client.close()])
  })

  it('leaves targets without a declaration as they were', async () => {
    const untyped = createWebSocketServerEventTarget()
    expectTypeOf(untyped).toEqualTypeOf<WebSocketServerEventTarget<TypedEvent, unknown>>()
    const explicit = createWebSocketClientEventTarget<AppEvent>({
      url: 'ws://127.0.0.1:1/ws',
      reconnect: false,
    })
    // A declaration of other events does not fit a target typed with these.
    const other = defineEvents({ ping: z.number() })
    const mismatched = createWebSocketClientEventTarget<AppEvent>({
      url: 'ws://127.0.0.1:1/ws',
      // @ts-expect-error the declaration's events are not the target's
      events: other,
    })
    await Promise.all([untyped.close(), explicit.close(), mismatched.close()])
  })
})
