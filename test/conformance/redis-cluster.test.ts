import type { Cluster } from 'ioredis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createRedisEventTarget } from '../../src/event-target-redis/index.js'
import type { EventwireStatus } from '../../src/index.js'
import { describeConformance, waitFor } from '../../src/testing/index.js'
import { CLUSTER_CLIENTS } from '../support/redis-cluster-load.js'
import { RedisClusterServers } from '../support/redis-server.js'

let cluster: RedisClusterServers
beforeAll(async () => {
  cluster = await RedisClusterServers.start(3)
}, 60_000)
afterAll(async () => {
  await cluster?.stop()
})

/**
 * Kills, on every node, the connections whose name is `name` (the Cluster's own connections to the
 * nodes, and the target's subscriber connections made from them), as a network fault would.
 */
async function killConnections(name: string): Promise<number> {
  let killed = 0
  for (const node of cluster.nodes) {
    const list = await node.cli('CLIENT', 'LIST')
    for (const line of list.split('\n')) {
      if (!new RegExp(` name=(ioredis-cluster\\(\\w+\\):)?${name} `).test(line)) continue
      await node.cli('CLIENT', 'KILL', 'ID', /\bid=(\d+)/.exec(line)![1]!)
      killed++
    }
  }
  return killed
}

let topologies = 0

// A real 3-master Redis Cluster on loopback ports; both classic (PUBLISH, broadcast to every node) and
// sharded (SPUBLISH, on the slot's shard) pub/sub must behave as one EventTarget, with ioredis 5 and 6.
// An interruption kills every connection of a peer, on every node (CLIENT KILL); it connects again.
for (const client of CLUSTER_CLIENTS) {
  for (const sharded of [false, true]) {
    describeConformance(
      `redis cluster (${client.name}, ${sharded ? 'sharded' : 'classic'} pub/sub)`,
      async ({ nodeCount, onError }) => {
        const topology = ++topologies
        const clients: Cluster[] = []
        const statuses: EventwireStatus[][] = []
        const name = (index: number) => `conformance-${topology}-${index}`
        const connect = (index: number) => {
          const redis = client.create(cluster.startupNodes, {
            shardedSubscribers: sharded,
            redisOptions: { connectionName: name(index) },
          })
          clients.push(redis)
          return redis
        }
        const nodes = Array.from({ length: nodeCount }, (_, index) => {
          const seen: EventwireStatus[] = []
          statuses.push(seen)
          return createRedisEventTarget({
            publishClient: connect(index),
            subscribeClient: connect(index),
            sharded,
            prefix: 'c:',
            onError,
            onStatus: (status) => seen.push(status),
          })
        })
        await Promise.all(nodes.map((node) => node.ready))
        return {
          nodes,
          interrupt: async (index) => {
            const seen = statuses[index]!
            const before = seen.length
            expect(await killConnections(name(index))).toBeGreaterThan(0)
            await waitFor(() => seen.slice(before).some((status) => status.type === 'disconnected'), {
              timeoutMs: 5_000,
              message: `peer ${index} noticed`,
            })
          },
          close: async () => {
            await Promise.all(nodes.map((node) => node.close()))
            await Promise.all(clients.map((redis) => redis.quit().catch(() => redis.disconnect())))
          },
        }
      },
      { interruptible: [0, 1] },
    )
  }
}

describe('redis cluster: which pub/sub each mode uses', () => {
  async function counts(command: 'NUMSUB' | 'SHARDNUMSUB', channel: string): Promise<number> {
    const replies = await Promise.all(cluster.nodes.map((node) => node.cli('PUBSUB', command, channel)))
    return replies.reduce((sum, reply) => sum + Number(reply.split('\n')[1]), 0)
  }

  for (const client of CLUSTER_CLIENTS) {
    for (const sharded of [false, true]) {
      it(`${client.name}: ${sharded ? 'sharded' : 'classic'} mode subscribes with ${sharded ? 'SSUBSCRIBE' : 'SUBSCRIBE'}`, async () => {
        const publishClient = client.create(cluster.startupNodes, { shardedSubscribers: sharded })
        const subscribeClient = client.create(cluster.startupNodes, { shardedSubscribers: sharded })
        const prefix = `which-${client.name.replace(' ', '')}:`
        const target = createRedisEventTarget({ publishClient, subscribeClient, sharded, prefix })
        try {
          await target.ready
          target.addEventListener('probe', () => {})
          await target.flush()
          expect(await counts(sharded ? 'SHARDNUMSUB' : 'NUMSUB', `${prefix}probe`)).toBe(1)
          expect(await counts(sharded ? 'NUMSUB' : 'SHARDNUMSUB', `${prefix}probe`)).toBe(0)
        } finally {
          await target.close()
          publishClient.disconnect()
          subscribeClient.disconnect()
        }
      })
    }

    it(`${client.name}: classic mode sends every PUBLISH of a channel to one master, so the cluster bus cannot reorder them`, async () => {
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
      const publishClient = client.create(cluster.startupNodes, {})
      const subscribeClient = client.create(cluster.startupNodes, {})
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
  }
})
