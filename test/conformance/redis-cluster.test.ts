import { Cluster } from 'ioredis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createRedisEventTarget } from '../../src/event-target-redis/index.js'
import { describeConformance } from '../../src/testing/index.js'
import { RedisClusterServers } from '../support/redis-server.js'

let cluster: RedisClusterServers
beforeAll(async () => {
  cluster = await RedisClusterServers.start(3)
}, 60_000)
afterAll(async () => {
  await cluster?.stop()
})

// A real 3-master Redis Cluster on loopback ports; both classic (PUBLISH, broadcast to every node) and
// sharded (SPUBLISH, on the slot's shard) pub/sub must behave as one EventTarget.
for (const sharded of [false, true]) {
  describeConformance(
    `redis cluster (${sharded ? 'sharded' : 'classic'} pub/sub)`,
    async ({ nodeCount, onError }) => {
      const clients: Cluster[] = []
      const connect = () => {
        const client = new Cluster(cluster.startupNodes, { shardedSubscribers: sharded })
        clients.push(client)
        return client
      }
      const nodes = Array.from({ length: nodeCount }, () =>
        createRedisEventTarget({
          publishClient: connect(),
          subscribeClient: connect(),
          sharded,
          prefix: 'c:',
          onError,
        }),
      )
      await Promise.all(nodes.map((node) => node.ready))
      return {
        nodes,
        close: async () => {
          await Promise.all(nodes.map((node) => node.close()))
          await Promise.all(clients.map((client) => client.quit().catch(() => client.disconnect())))
        },
      }
    },
  )
}

describe('redis cluster: which pub/sub each mode uses', () => {
  async function counts(command: 'NUMSUB' | 'SHARDNUMSUB', channel: string): Promise<number> {
    const replies = await Promise.all(cluster.nodes.map((node) => node.cli('PUBSUB', command, channel)))
    return replies.reduce((sum, reply) => sum + Number(reply.split('\n')[1]), 0)
  }

  for (const sharded of [false, true]) {
    it(`${sharded ? 'sharded' : 'classic'} mode subscribes with ${sharded ? 'SSUBSCRIBE' : 'SUBSCRIBE'}`, async () => {
      const publishClient = new Cluster(cluster.startupNodes, { shardedSubscribers: sharded })
      const subscribeClient = new Cluster(cluster.startupNodes, { shardedSubscribers: sharded })
      const target = createRedisEventTarget({ publishClient, subscribeClient, sharded, prefix: 'which:' })
      try {
        await target.ready
        target.addEventListener('probe', () => {})
        await target.flush()
        expect(await counts(sharded ? 'SHARDNUMSUB' : 'NUMSUB', 'which:probe')).toBe(1)
        expect(await counts(sharded ? 'NUMSUB' : 'SHARDNUMSUB', 'which:probe')).toBe(0)
      } finally {
        await target.close()
        publishClient.disconnect()
        subscribeClient.disconnect()
      }
    })
  }
})
