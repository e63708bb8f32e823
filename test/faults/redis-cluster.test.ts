import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { createRedisEventTarget } from '../../src/event-target-redis/index.js'
import { waitFor } from '../../src/testing/index.js'
import {
  account,
  CLUSTER_CLIENTS,
  type ClusterClient,
  Load,
  type LoadPeer,
  startPeer,
  waitDrained,
} from '../support/redis-cluster-load.js'
import { RedisClusterServers, type RedisServer } from '../support/redis-server.js'

/**
 * A real Redis Cluster of 3 masters with a replica each, shared by every test here, and Redis targets on
 * ioredis 5 and 6 Cluster clients in classic and sharded mode. One dispatcher sends 1,000 events a second
 * over 20 types (every master carries some) to two receivers while a master is killed and restarted,
 * fails over to its replica, or gives a slot away. Afterwards every event is accounted for per
 * (receiver, type): at most once, in dispatch order, and every missing one dispatched inside a window the
 * receiver or the dispatcher reported (disconnected to connected, or a gap), with 250 ms of slack.
 */
let cluster: RedisClusterServers
const cleanup: Array<() => Promise<unknown>> = []

beforeAll(async () => {
  cluster = await RedisClusterServers.start(3, { replicas: 1 })
}, 60_000)
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step().catch(() => {})
  // The next test starts from a whole cluster: a killed node is back (a failed-over master as a replica).
  for (const node of cluster.nodes) if (!node.isRunning) await node.restart()
  await cluster.waitHealthy()
}, 60_000)
afterAll(async () => {
  await cluster?.stop()
})

const TYPES = Array.from({ length: 20 }, (_, i) => `t${i}`)
type ClusterClientOf = ReturnType<ClusterClient['create']>
let round = 0

for (const client of CLUSTER_CLIENTS) {
  for (const sharded of [false, true]) {
    describe(`redis cluster faults: ${client.name}, ${sharded ? 'sharded' : 'classic'} pub/sub`, () => {
      async function start(
        receivers: number,
      ): Promise<{ prefix: string; dispatcher: LoadPeer; peers: LoadPeer[] }> {
        const prefix = `f${++round}:`
        const open = async (name: string, listen?: readonly string[]) => {
          const peer = await startPeer(client as ClusterClient, cluster.startupNodes, {
            name: `${prefix}${name}`,
            sharded,
            prefix,
            listen,
          })
          cleanup.push(() => peer.close())
          return peer
        }
        const dispatcher = await open('a')
        const peers: LoadPeer[] = []
        for (let i = 0; i < receivers; i++) peers.push(await open(`r${i}`, TYPES))
        return { prefix, dispatcher, peers }
      }

      /** The events were accounted for, and the fault really happened. */
      function expectAccounted(fault: string, load: Load, receivers: LoadPeer[]) {
        const result = account(load, receivers)
        console.log(
          `${client.name} ${sharded ? 'sharded' : 'classic'} ${fault}: sent=${result.sent} expected=${result.expected} ` +
            `delivered=${result.delivered} lost-in-gap=${result.lostInGap} duplicates=${result.duplicates} ` +
            `out-of-order=${result.outOfOrder} unexplained=${result.unexplained.length} ` +
            `gaps=${receivers.map((peer) => peer.outages.gaps).join('/')}`,
        )
        expect(result.duplicates).toBe(0)
        expect(result.outOfOrder).toBe(0)
        expect(result.unexplained).toEqual([])
        expect(result.delivered + result.lostInGap).toBe(result.expected)
        expect(result.delivered).toBeGreaterThan(result.expected / 2)
        return result
      }

      /**
       * After a fault at `since`: every target reports a gap, the load runs on for a second, and every
       * event is accounted for.
       */
      async function expectRecovered(
        fault: string,
        since: number,
        load: Load,
        dispatcher: LoadPeer,
        peers: LoadPeer[],
      ) {
        const everyone = [dispatcher, ...peers]
        await waitFor(() => everyone.every((peer) => peer.outages.gapsAfter(since) > 0), {
          timeoutMs: 15_000,
          message: 'every target reported a gap',
        })
        await load.run(1_000)
        load.stop()
        await waitDrained(load, peers)
        expectAccounted(fault, load, peers)
      }

      it('ready means every master connection is usable: events dispatched right after ready and flush all arrive, in order', async () => {
        const { dispatcher, peers } = await start(1)
        const receiver = peers[0]!
        // Publish connections to the 3 masters; subscribe connections: one per master (sharded) or one.
        expect(dispatcher.target.stats().connections).toBe(sharded ? 6 : 4)
        const load = new Load(dispatcher, TYPES)
        for (let tick = 0; tick < 8; tick++) {
          for (let i = 0; i < 50; i++) load.dispatch()
          await new Promise((resolve) => setImmediate(resolve))
        }
        await dispatcher.target.flush()
        await waitDrained(load, [receiver], 5_000)
        for (const [type, times] of load.sent)
          expect(receiver.received.get(type)).toEqual(times.map((_, index) => index + 1))
        expect(receiver.target.stats().dropped).toBe(0)
        expect(receiver.outages.statuses.map(({ status }) => status.type)).toEqual([
          'connecting',
          'connected',
        ])
      })

      it('a master killed (kill -9) and restarted under load: every target reports a gap around it, losses fall inside, delivery resumes in order', async () => {
        const { prefix, dispatcher, peers } = await start(2)
        const victim = await cluster.ownerOf(await cluster.slotOf(`${prefix}t0`))
        const load = new Load(dispatcher, TYPES)
        load.start()
        await load.run(500)
        const killedAt = Date.now()
        await victim.kill()
        await load.run(1_000)
        await victim.restart()
        await expectRecovered('kill and restart', killedAt, load, dispatcher, peers)
      }, 40_000)

      it('a master killed for good under load fails over to its replica: every target reports a gap, losses fall inside, delivery resumes in order', async () => {
        const { prefix, dispatcher, peers } = await start(2)
        const victim = await cluster.ownerOf(await cluster.slotOf(`${prefix}t0`))
        const load = new Load(dispatcher, TYPES)
        load.start()
        await load.run(500)
        const killedAt = Date.now()
        await victim.kill()
        await waitFor(async () => (await cluster.ownerOf(await cluster.slotOf(`${prefix}t0`))) !== victim, {
          timeoutMs: 20_000,
          intervalMs: 100,
          message: 'a replica took over',
        })
        await expectRecovered('failover', killedAt, load, dispatcher, peers)
      }, 60_000)

      it(sharded
        ? 'a slot moved to another master under load: its receivers report a gap, subscribe on the new owner, and the type is delivered again'
        : 'a slot moved to another master under load: nothing is lost (classic channels do not live on a slot)', async () => {
        const { prefix, dispatcher, peers } = await start(2)
        const channel = `${prefix}t0`
        const slot = await cluster.slotOf(channel)
        const from = await cluster.ownerOf(slot)
        const to = (await cluster.masters()).find((node) => node !== from) as RedisServer
        const load = new Load(dispatcher, TYPES)
        load.start()
        await load.run(500)
        const movedAt = Date.now()
        await cluster.moveSlot(slot, to)
        if (sharded) {
          await waitFor(() => peers.every((peer) => peer.outages.gapsAfter(movedAt) > 0), {
            timeoutMs: 10_000,
            message: 'every receiver reported a gap',
          })
          // Both receivers subscribed on the new owner; none left on the old one.
          const count = async (node: RedisServer) =>
            Number((await node.cli('PUBSUB', 'SHARDNUMSUB', channel)).split('\n')[1])
          expect(await count(to)).toBe(2)
          expect(await count(from)).toBe(0)
        } else await load.run(1_000)
        await load.run(1_000)
        load.stop()
        await waitDrained(load, peers)
        const result = expectAccounted('slot moved', load, peers)
        if (!sharded) {
          expect(result.lostInGap).toBe(0)
          expect(peers.every((peer) => peer.outages.gaps === 0)).toBe(true)
        }
        // The moved type is delivered again, in full, after the gap.
        const recoveredAt = Math.max(...peers.map((peer) => peer.outages.windows.at(-1)?.[1] ?? movedAt))
        const times = load.sent.get('t0')!
        const after = times
          .map((at, index) => [at, index + 1] as const)
          .filter(([at]) => at > recoveredAt + 250)
        expect(after.length).toBeGreaterThan(0)
        for (const peer of peers) {
          const got = new Set(peer.received.get('t0'))
          expect(after.filter(([, n]) => !got.has(n))).toEqual([])
        }
      }, 40_000)
    })
  }
}

describe('redis cluster: a target made from clients that are already ready', () => {
  for (const client of CLUSTER_CLIENTS) {
    for (const sharded of [false, true]) {
      it(`${client.name}, ${sharded ? 'sharded' : 'classic'}: builds, subscribes and delivers in order`, async () => {
        const options = { shardedSubscribers: sharded }
        const clients = [0, 1, 2, 3].map(() => client.create(cluster.startupNodes, options))
        cleanup.push(async () => {
          for (const redis of clients) redis.disconnect()
        })
        // The slot table is known before the targets exist: their cluster links may report at once.
        await Promise.all(
          clients.map(
            (redis) =>
              new Promise<void>((resolve, reject) => {
                if (redis.status === 'ready') resolve()
                redis.once('ready', () => resolve())
                redis.once('error', reject)
              }),
          ),
        )
        const prefix = `ready${++round}:`
        const make = (publishClient: ClusterClientOf, subscribeClient: ClusterClientOf) =>
          createRedisEventTarget({ publishClient, subscribeClient, sharded, prefix })
        const sender = make(clients[0]!, clients[1]!)
        const receiver = make(clients[2]!, clients[3]!)
        cleanup.push(() => Promise.all([sender.close(), receiver.close()]))
        const got: number[] = []
        for (const type of TYPES) {
          receiver.addEventListener(type, (event) => got.push((event as CustomEvent<number>).detail))
        }
        await Promise.all([sender.ready, receiver.ready])
        await receiver.flush()
        for (let n = 0; n < 200; n++)
          sender.dispatchEvent(new CustomEvent(TYPES[n % TYPES.length]!, { detail: n }))
        await waitFor(() => got.length === 200, { timeoutMs: 10_000, message: '200 events' })
        // Per type, in dispatch order.
        for (const [index, type] of TYPES.entries()) {
          const ofType = got.filter((n) => n % TYPES.length === index)
          expect(ofType, type).toEqual([...ofType].sort((a, b) => a - b))
        }
        expect(new Set(got).size).toBe(200)
      }, 30_000)
    }
  }
})
