/**
 * Node B of the Redis path of bench/realistic.ts, in a process of its own (bundled and forked there):
 * `node realistic-redis.mjs <variant> <redis port> <ack every>`. It takes `down` events from node A
 * through the redis-server the benchmark started, checks that every one arrives in order, and
 * acknowledges every `<ack every>` through the same server, on a second channel:
 * - ours: `createRedisEventTarget({ url, prefix })` with default options (plus `onError`), a listener for
 *   `down`, and an `ack-down` event dispatched back;
 * - yoga: `@graphql-yoga/redis-event-target` on two ioredis connections, as its docs show, a listener
 *   for `yoga:down` and a `yoga:ack-down` event dispatched back;
 * - naive: an ioredis subscriber whose `message` handler parses one detail per message, and an ioredis
 *   publisher for the acknowledgements (one `JSON.stringify` each);
 * - batched: the same, with a JSON array of the events of one turn per message.
 */
import { once } from 'node:events'
import { createRedisEventTarget as createYogaRedisEventTarget } from '@graphql-yoga/redis-event-target'
import { Redis } from 'ioredis'
import { createRedisEventTarget } from '../../src/event-target-redis/index.js'
import { createEvent } from '../../src/index.js'
import { ACK_DOWN, type Detail, DOWN, Receiver, type RedisVariant, redisChannel } from './realistic-common.js'
import { receivingChild } from './realistic-receiver.js'

const [variant, portArg, ackEveryArg] = process.argv.slice(2) as [RedisVariant, string, string]
const url = `redis://127.0.0.1:${portArg}`
const ackEvery = Number(ackEveryArg)
const child = receivingChild()
const { fail } = child

/**
 * Two ioredis connections, connected: a SUBSCRIBE issued before ioredis's ready check puts the connection
 * in subscriber mode under that check, which then fails.
 */
async function connected(): Promise<[Redis, Redis]> {
  const clients: [Redis, Redis] = [new Redis(url), new Redis(url)]
  for (const client of clients) client.on('error', (error) => fail(`node B: ${error.message}`))
  await Promise.all(clients.map((client) => (client.status === 'ready' ? undefined : once(client, 'ready'))))
  return clients
}

if (variant === 'ours') {
  const target = createRedisEventTarget({
    url,
    prefix: `${variant}:`,
    onError: (error) => fail(`node B: ${error.code} ${error.message}`),
  })
  const receiver = new Receiver(
    0,
    ACK_DOWN,
    ackEvery,
    (ack) => target.dispatchEvent(createEvent(ACK_DOWN, ack)),
    fail,
  )
  target.addEventListener(DOWN, (event) => receiver.take((event as CustomEvent<Detail>).detail))
  // Subscribed once SUBSCRIBE has been answered.
  child.serve(
    receiver,
    target.ready.then(() => target.flush()),
    () => target.close(),
  )
} else if (variant === 'yoga') {
  const [publishClient, subscribeClient] = await connected()
  const target = createYogaRedisEventTarget({ publishClient, subscribeClient })
  const ackType = redisChannel(variant, ACK_DOWN)
  const receiver = new Receiver(
    0,
    ACK_DOWN,
    ackEvery,
    (ack) => target.dispatchEvent(new CustomEvent(ackType, { detail: ack })),
    fail,
  )
  target.addEventListener(redisChannel(variant, DOWN), (event) =>
    receiver.take((event as CustomEvent<Detail>).detail),
  )
  // Yoga's target does not expose its SUBSCRIBE: the parent waits until Redis counts the subscriber.
  child.serve(receiver, Promise.resolve(), () => {
    publishClient.disconnect()
    subscribeClient.disconnect()
  })
} else {
  const [publisher, subscriber] = await connected()
  const ackChannel = redisChannel(variant, ACK_DOWN)
  const receiver = new Receiver(
    0,
    ACK_DOWN,
    ackEvery,
    (ack) => void publisher.publish(ackChannel, JSON.stringify(ack)),
    fail,
  )
  subscriber.on(
    'message',
    variant === 'naive'
      ? (_channel: string, message: string) => receiver.take(JSON.parse(message) as Detail)
      : (_channel: string, message: string) => {
          for (const detail of JSON.parse(message) as Detail[]) receiver.take(detail)
        },
  )
  child.serve(
    receiver,
    subscriber.subscribe(redisChannel(variant, DOWN)).then(() => {}),
    () => {
      publisher.disconnect()
      subscriber.disconnect()
    },
  )
}
