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

  it('classic mode sends every PUBLISH of a channel to one master, so the cluster bus cannot reorder them', async () => {
    // A Cluster sends a command without a key to a random node; messages published on different nodes
    // may reach a subscriber swapped. Counted per node with INFO commandstats.
    const publishCounts = async () =>
      Promise.all(
        cluster.nodes.map(async (node) => {
          const line = (await node.cli('INFO', 'commandstats'))
            .split('\n')
            .find((l) => l.startsWith('cmdstat_publish:'))
          return line === undefined ? 0 : Number(/calls=(\d+)/.exec(line)![1])
        }),
      )
    const publishClient = new Cluster(cluster.startupNodes)
    const subscribeClient = new Cluster(cluster.startupNodes)
    const target = createRedisEventTarget({ publishClient, subscribeClient, prefix: 'pinned:' })
    try {
      await target.ready
      const before = await publishCounts()
      for (let n = 0; n < 30; n++) {
        target.dispatchEvent(new CustomEvent('order', { detail: n }))
        await target.flush() // one PUBLISH per flush
      }
      const after = await publishCounts()
      const grown = after.map((count, i) => count - before[i]!)
      expect(grown.filter((delta) => delta > 0)).toEqual([30])
    } finally {
      await target.close()
      publishClient.disconnect()
      subscribeClient.disconnect()
    }
  })
})
