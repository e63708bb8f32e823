import type { Cluster } from 'ioredis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { EventwireError } from '../../src/core/errors.js'
import { createEvent } from '../../src/core/event-target.js'
import type { EventwireStatus } from '../../src/core/types.js'
import { createRedisEventTarget, type RedisEventTarget } from '../../src/event-target-redis/index.js'
import { waitFor } from '../../src/testing/index.js'
import { CLUSTER_CLIENTS, type ClusterClient } from '../support/redis-cluster-load.js'
import { RedisClusterServers } from '../support/redis-server.js'

// Redis peers with `history` on a real 3-master Cluster with sharded pub/sub: the script that appends
// and SPUBLISHes runs on the slot's owner (the keys are in the channel's slot), and a receiver whose
// connections were all killed recovers from the streams.

let cluster: RedisClusterServers
const clients: Cluster[] = []
const targets: RedisEventTarget[] = []

beforeAll(async () => {
  cluster = await RedisClusterServers.start(3)
}, 60_000)

afterAll(async () => {
  await Promise.all(targets.map((target) => target.close()))
  for (const client of clients) client.disconnect()
  await cluster?.stop()
})

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

function peer(driver: ClusterClient, name: string, prefix: string) {
  const connect = () => {
    const client = driver.create(cluster.startupNodes, {
      shardedSubscribers: true,
      redisOptions: { connectionName: name },
    })
    clients.push(client)
    return client
  }
  const statuses: EventwireStatus[] = []
  const errors: EventwireError[] = []
  const target = createRedisEventTarget({
    publishClient: connect(),
    subscribeClient: connect(),
    sharded: true,
    prefix,
    history: { types: ['a', 'b', 'c'] },
    onStatus: (status) => statuses.push(status),
    onError: (error) => errors.push(error),
  })
  targets.push(target)
  return { target, statuses, errors }
}

describe('redis cluster, sharded, with history', () => {
  for (const driver of CLUSTER_CLIENTS) {
    it(`${driver.name}: a receiver whose connections were killed recovers every type, in order, once`, async () => {
      const types = ['a', 'b', 'c'] as const
      const tag = driver.name.replace(' ', '')
      const receiver = peer(driver, `rc-receiver-${tag}`, `rc-${tag}:`)
      const sender = peer(driver, `rc-sender-${tag}`, `rc-${tag}:`)
      const received = new Map<string, number[]>(types.map((type) => [type, []]))
      for (const type of types) {
        receiver.target.addEventListener(type, (event) =>
          received.get(type)!.push((event as CustomEvent).detail.n),
        )
      }
      await Promise.all([receiver.target.ready, sender.target.ready])
      await receiver.target.flush()
      const send = (from: number, count: number) => {
        for (let n = from; n < from + count; n++)
          for (const type of types) sender.target.dispatchEvent(createEvent(type, { n }))
      }
      send(0, 100)
      await waitFor(() => types.every((type) => received.get(type)!.length >= 100), { timeoutMs: 10_000 })
      // A steady stream across the kill: what goes out while a subscriber connection is down (at least
      // until its next dial, 50 ms) can come only from the streams.
      let next = 100
      const timer = setInterval(() => {
        send(next, 10)
        next += 10
      }, 5)
      try {
        expect(await killConnections(`rc-receiver-${tag}`)).toBeGreaterThan(0)
        await waitFor(() => receiver.statuses.filter((status) => status.type === 'recovered').length >= 3, {
          timeoutMs: 15_000,
          message: 'every type recovered',
        })
        const at = next
        await waitFor(() => types.every((type) => received.get(type)!.length >= at), { timeoutMs: 10_000 })
      } finally {
        clearInterval(timer)
      }
      await sender.target.flush()
      const total = next
      await waitFor(() => types.every((type) => received.get(type)!.length >= total), { timeoutMs: 10_000 })
      for (const type of types) {
        expect(received.get(type)).toEqual(Array.from({ length: total }, (_, n) => n))
      }
      const recovered = receiver.statuses.filter((status) => status.type === 'recovered')
      // Killing connections on every node may be seen as more than one loss: each is recovered.
      expect([...new Set(recovered.map((status) => status.eventType))].sort()).toEqual([...types])
      // The events sent while its connections were down came from the streams.
      expect(recovered.reduce((sum, status) => sum + status.count, 0)).toBeGreaterThan(0)
      expect(receiver.statuses.filter((status) => status.type === 'gap')).toEqual([])
      expect(receiver.errors.filter((error) => error.code !== 'ERR_CONNECTION')).toEqual([])
    }, 40_000)
  }

  it('refuses history with classic pub/sub on a Cluster', () => {
    const connect = () => {
      const client = CLUSTER_CLIENTS[0].create(cluster.startupNodes, { lazyConnect: true })
      clients.push(client)
      return client
    }
    expect(() =>
      createRedisEventTarget({
        publishClient: connect(),
        subscribeClient: connect(),
        history: { types: ['a'] },
      }),
    ).toThrow(expect.objectContaining({ code: 'ERR_INVALID_OPTION' }))
  })
})
