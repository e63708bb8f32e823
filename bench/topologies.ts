/**
 * Composed topologies: request/reply round trips over the in-process target against a request/response
 * loop built on yoga's createPubSub, and spoke -> spoke through two WebSocket hubs joined over Redis (scaleOut)
 * against the same spokes on one hub.
 */
import { createPubSub as createYogaPubSub } from '@graphql-yoga/subscription'
import { Redis } from 'ioredis'
import { scaleOut as joinHubs } from '../src/bridge/index.js'
import { createInProcessEventTarget } from '../src/event-target-in-process/index.js'
import { createRedisEventTarget } from '../src/event-target-redis/index.js'
import { createWebSocketClientEventTarget } from '../src/event-target-websocket-client/index.js'
import { request, respond } from '../src/index.js'
import { waitFor } from '../src/testing/index.js'
import { RedisServer } from '../test/support/redis-server.js'
import { compare, expectCount, paced } from './harness.js'
import { startHub } from './support/eventwire.js'

const CHUNK = 100

async function requestReply(): Promise<void> {
  const target = createInProcessEventTarget()
  respond<number, number>(target, 'double', (n) => n * 2)
  let ourAnswers = 0

  // The yoga baseline: a responder loop and a requester awaiting its own `for await` subscription.
  const pubsub = createYogaPubSub<{
    req: [{ id: number; n: number }]
    res: [{ id: number; value: number }]
  }>()
  const requests = pubsub.subscribe('req')
  void (async () => {
    for await (const { id, n } of requests) pubsub.publish('res', { id, value: n * 2 })
  })()
  const responses = pubsub.subscribe('res')[Symbol.asyncIterator]()
  let yogaAnswers = 0
  let nextId = 0

  await compare({
    title: 'request/reply round trips over one process (sequential)',
    unit: 'rtt',
    contenders: [
      {
        name: 'eventwire request/respond',
        run: async (n) => {
          for (let i = 0; i < n; i++) {
            if ((await request<number>(target, 'double', i)) === i * 2) ourAnswers++
          }
        },
        check: (total) => expectCount('eventwire request/respond', ourAnswers, total),
      },
      {
        name: 'yoga createPubSub req/res loop',
        run: async (n) => {
          for (let i = 0; i < n; i++) {
            const id = nextId++
            const waiting = responses.next()
            pubsub.publish('req', { id, n: i })
            const { value } = await waiting
            if (value?.id === id && value.value === i * 2) yogaAnswers++
          }
        },
        check: (total) => expectCount('yoga req/res', yogaAnswers, total),
      },
    ],
    ratios: [{ ours: 'eventwire request/respond', theirs: 'yoga createPubSub req/res loop', target: 5 }],
  })
  await requests.return?.()
  await target.close()
}

async function scaleOut(): Promise<void> {
  const redis = await RedisServer.start()
  const single = await startHub()
  const [one, two] = [await startHub(), await startHub()]
  const clients: Redis[] = []
  const peers = [one, two].map(({ hub: h }) => {
    const publishClient = new Redis(redis.port, '127.0.0.1')
    const subscribeClient = new Redis(redis.port, '127.0.0.1')
    clients.push(publishClient, subscribeClient)
    const peer = createRedisEventTarget({ publishClient, subscribeClient, prefix: 'bench:' })
    return { peer, link: joinHubs(h, peer) }
  })
  await Promise.all(peers.map(({ peer }) => peer.ready))
  const spoke = (url: string) => createWebSocketClientEventTarget({ url, heartbeatIntervalMs: 0 })
  const pairs = {
    'one hub: spoke -> spoke': [spoke(single.url), spoke(single.url)],
    'hub 1 -> Redis -> hub 2': [spoke(one.url), spoke(two.url)],
  }
  const counts = new Map<string, { sent: number; received: number }>()
  for (const [name, [from, to]] of Object.entries(pairs)) {
    const count = { sent: 0, received: 0 }
    counts.set(name, count)
    to!.addEventListener('tick', () => {
      count.received++
    })
    await Promise.all([from!.ready, to!.flush()])
  }
  await waitFor(
    async () => Number((await redis.cli('PUBSUB', 'NUMSUB', 'bench:tick')).split('\n')[1]) === 1,
    {
      timeoutMs: 5_000,
    },
  )
  await compare({
    title: `scale-out: spoke -> spoke, ${CHUNK} events per tick (msg/s)`,
    unit: 'msg',
    // Large batches: each run waits for its last event, and the Redis path's drain is longer.
    batch: 20_000,
    contenders: Object.entries(pairs).map(([name, [from]]) => ({
      name,
      run: (n: number) => {
        const count = counts.get(name)!
        return paced(
          n,
          () => from!.dispatchEvent(new CustomEvent('tick', { detail: count.sent++ })),
          () => count.received === count.sent,
          `${name}: every event received`,
          CHUNK,
        )
      },
      check: (total: number) => expectCount(name, counts.get(name)!.received, total),
    })),
    ratios: [{ ours: 'hub 1 -> Redis -> hub 2', theirs: 'one hub: spoke -> spoke', target: 0.5 }],
  })
  for (const [from, to] of Object.values(pairs)) await Promise.all([from!.close(), to!.close()])
  for (const { peer, link } of peers) {
    link.close()
    await peer.close()
  }
  for (const client of clients) client.disconnect()
  await Promise.all([single.close(), one.close(), two.close()])
  await redis.stop()
}

export async function run(): Promise<void> {
  await requestReply()
  await scaleOut()
}
