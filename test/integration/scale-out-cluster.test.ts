import { Cluster } from 'ioredis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { bridge, scaleOut } from '../../src/bridge/index.js'
import { createRedisEventTarget } from '../../src/event-target-redis/index.js'
import { waitFor } from '../../src/testing/index.js'
import { RedisClusterServers } from '../support/redis-server.js'
import { client, startHub } from '../support/websocket.js'

let cluster: RedisClusterServers
beforeAll(async () => {
  cluster = await RedisClusterServers.start(3)
}, 60_000)
afterAll(async () => {
  await cluster?.stop()
})

const JOINS = [
  ['scaleOut', scaleOut],
  ['bridge', bridge],
] as const

describe.each(JOINS)('WebSocket hubs joined by %s over a Redis Cluster with sharded pub/sub', (_, join) => {
  it('behave as one hub: spokes on either hub reach each other, each event once, in order', async () => {
    const cleanup: Array<() => Promise<unknown> | unknown> = []
    try {
      const hubs = []
      for (let i = 0; i < 2; i++) {
        const running = await startHub()
        const connect = () => {
          const redisClient = new Cluster(cluster.startupNodes, { shardedSubscribers: true })
          cleanup.push(() => redisClient.disconnect())
          return redisClient
        }
        const peer = createRedisEventTarget({
          publishClient: connect(),
          subscribeClient: connect(),
          sharded: true,
          prefix: 'shard:',
        })
        await peer.ready
        const link = join(running.hub, peer)
        cleanup.push(
          () => running.close(),
          () => peer.close(),
          () => link.close(),
        )
        hubs.push(running)
      }
      const a = client(hubs[0]!.url)
      const b = client(hubs[1]!.url)
      cleanup.push(
        () => a.close(),
        () => b.close(),
      )
      // Types spread over several slots, so several shards carry them.
      const types = ['alpha', 'bravo', 'charlie', 'delta']
      const onB: string[] = []
      const onA: string[] = []
      for (const type of types) {
        b.addEventListener(type, (event) => onB.push(`${type}:${event.detail}`))
        a.addEventListener(type, (event) => onA.push(`${type}:${event.detail}`))
      }
      await Promise.all([a.ready, b.ready, a.flush(), b.flush()])
      const shardSubscribers = async (type: string) => {
        const replies = await Promise.all(
          cluster.nodes.map((node) => node.cli('PUBSUB', 'SHARDNUMSUB', `shard:${type}`)),
        )
        return replies.reduce((sum, reply) => sum + Number(reply.split('\n')[1]), 0)
      }
      await waitFor(
        async () => (await Promise.all(types.map(shardSubscribers))).every((count) => count === 2),
        {
          timeoutMs: 10_000,
          message: 'both bridges subscribed on every shard',
        },
      )
      for (const n of [1, 2, 3])
        for (const type of types) a.dispatchEvent(new CustomEvent(type, { detail: n }))
      await waitFor(() => onB.length === 12, { timeoutMs: 10_000 })
      await Promise.all([a.flush(), b.flush()])
      for (const type of types) {
        expect(onB.filter((entry) => entry.startsWith(`${type}:`))).toEqual(
          [1, 2, 3].map((n) => `${type}:${n}`),
        )
      }
      expect(onA).toHaveLength(12)
    } finally {
      for (const step of cleanup.reverse()) await step()
    }
  })
})
