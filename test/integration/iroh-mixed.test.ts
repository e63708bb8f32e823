import { Redis } from 'ioredis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { bridge } from '../../src/bridge/index.js'
import { createInProcessEventTarget } from '../../src/event-target-in-process/index.js'
import { createIrohHubEventTarget } from '../../src/event-target-iroh-hub/index.js'
import { createIrohSpokeEventTarget } from '../../src/event-target-iroh-spoke/index.js'
import { createRedisEventTarget } from '../../src/event-target-redis/index.js'
import { createWorkerHubEventTarget } from '../../src/event-target-worker/index.js'
import type { TypedEvent, TypedEventTarget } from '../../src/index.js'
import type { ConformanceNode } from '../../src/testing/index.js'
import { waitFor } from '../../src/testing/index.js'
import { bindHubEndpoint, bindLoopbackEndpoint, loopbackAddr } from '../support/iroh.js'
import { RedisServer } from '../support/redis-server.js'
import { client, startHub } from '../support/websocket.js'
import { WorkerNode } from '../support/worker-node.js'

let redis: RedisServer
beforeAll(async () => {
  redis = await RedisServer.start()
})
afterAll(async () => {
  await redis?.stop()
})

describe('a mixed topology', () => {
  it('in-process, worker, WebSocket spoke, iroh spoke and Redis peer: each dispatch reaches every other node once, in order', async () => {
    const cleanup: Array<() => Promise<unknown> | unknown> = []
    try {
      // The WebSocket hub is the middle; every other transport is bridged to it.
      const ws = await startHub()
      cleanup.push(() => ws.close())

      const local = createInProcessEventTarget()
      const localLink = bridge(local, ws.hub, { types: ['mix'] })
      cleanup.push(() => localLink.close())

      const pool = createWorkerHubEventTarget()
      const worker = await WorkerNode.start({ endpoint: 'parent' })
      pool.add(worker.worker)
      await worker.open()
      const poolLink = bridge(pool, ws.hub)
      cleanup.push(
        () => worker.close(),
        () => pool.close(),
        () => poolLink.close(),
      )

      const hubEndpoint = await bindHubEndpoint()
      const spokeEndpoint = await bindLoopbackEndpoint()
      const iroh = createIrohHubEventTarget({ endpoint: hubEndpoint })
      const irohSpoke = createIrohSpokeEventTarget({
        endpoint: spokeEndpoint,
        hub: loopbackAddr(hubEndpoint),
      })
      const irohLink = bridge(iroh, ws.hub)
      cleanup.push(
        () => spokeEndpoint.close(),
        () => hubEndpoint.close(),
        () => iroh.close(),
        () => irohSpoke.close(),
        () => irohLink.close(),
      )

      const clients = [0, 1, 2, 3].map(() => new Redis(redis.port, '127.0.0.1'))
      cleanup.push(() => {
        for (const redisClient of clients) redisClient.disconnect()
      })
      const hubPeer = createRedisEventTarget({
        publishClient: clients[0]!,
        subscribeClient: clients[1]!,
        prefix: 'mix:',
      })
      const redisPeer = createRedisEventTarget({
        publishClient: clients[2]!,
        subscribeClient: clients[3]!,
        prefix: 'mix:',
      })
      const redisLink = bridge(ws.hub, hubPeer)
      cleanup.push(
        () => redisPeer.close(),
        () => hubPeer.close(),
        () => redisLink.close(),
      )

      const wsSpoke = client(ws.url)
      cleanup.push(() => wsSpoke.close())
      await Promise.all([irohSpoke.ready, wsSpoke.ready, hubPeer.ready, redisPeer.ready])

      const nodes: Array<[string, ConformanceNode]> = [
        ['in-process', local as ConformanceNode],
        ['worker', worker],
        ['websocket', wsSpoke as TypedEventTarget<TypedEvent> as ConformanceNode],
        ['iroh', irohSpoke as TypedEventTarget<TypedEvent> as ConformanceNode],
        ['redis', redisPeer as TypedEventTarget<TypedEvent> as ConformanceNode],
      ]
      const received = new Map<string, Array<{ from: string; n: number }>>()
      for (const [name, node] of nodes) {
        received.set(name, [])
        node.addEventListener('mix', (event) =>
          received.get(name)!.push(event.detail as { from: string; n: number }),
        )
      }
      // Interest travels hop by hop (spoke -> hub -> bridge -> next transport): settle until the Redis
      // side has both the bridge's and the peer's subscription.
      const settle = () => Promise.all(nodes.map(([, node]) => node.flush?.()))
      await settle()
      await waitFor(
        async () => Number((await redis.cli('PUBSUB', 'NUMSUB', 'mix:mix')).split('\n')[1]) === 2,
        {
          timeoutMs: 10_000,
        },
      )
      await settle()

      const perNode = 20
      for (let n = 0; n < perNode; n++) {
        for (const [name, node] of nodes)
          node.dispatchEvent(new CustomEvent('mix', { detail: { from: name, n } }))
      }
      const total = perNode * nodes.length
      await waitFor(() => [...received.values()].every((list) => list.length >= total), {
        timeoutMs: 20_000,
        message: 'every node received every event',
      })
      await settle()
      for (const [name] of nodes) {
        const list = received.get(name)!
        expect(list, name).toHaveLength(total)
        for (const [from] of nodes) {
          expect(
            list.filter((d) => d.from === from).map((d) => d.n),
            `${name} from ${from}`,
          ).toEqual(Array.from({ length: perNode }, (_, n) => n))
        }
      }
    } finally {
      for (const step of cleanup.reverse()) await step()
    }
  })
})
