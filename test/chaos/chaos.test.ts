import { Cluster, Redis } from 'ioredis'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { bridge, scaleOut } from '../../src/bridge/index.js'
import {
  createRedisEventTarget,
  type RedisEventTarget,
  type RedisEventTargetOptions,
} from '../../src/event-target-redis/index.js'
import type { EventwireStatus } from '../../src/index.js'
import { waitFor } from '../../src/testing/index.js'
import { RedisClusterServers, RedisServer } from '../support/redis-server.js'
import { client, type RunningHub, startHub } from '../support/websocket.js'

/**
 * Chaos: two WebSocket hubs joined over one Redis (`scaleOut`; `CHAOS_JOIN=bridge` joins them with a plain
 * `bridge` instead), spokes that know both hubs, and publishers on every
 * spoke dispatching numbered events at a steady rate while a seeded schedule kills and restarts Redis,
 * closes and restarts a hub on its port, and replaces spokes. Afterwards every event is accounted for
 * per (receiver, dispatcher): at most once, in dispatch order, and every missing one explained by an
 * interruption that a node on its path reported.
 *
 * `CHAOS_MS` sets how long the faults run (default 12 s), `CHAOS_SEED` the schedule.
 */
const CHAOS_MS = Number(process.env.CHAOS_MS ?? 12_000)
const join = process.env.CHAOS_JOIN === 'bridge' ? bridge : scaleOut
const SEED = Number(process.env.CHAOS_SEED ?? 1)
const SPOKES = 6
const DISPATCH_EVERY_MS = 20
/**
 * Slack around every reported window: an event already on the wire when a link breaks is lost although
 * it was dispatched a moment before the break was noticed, and interest travels to Redis a moment after
 * a resubscribed spoke reports its gap closed.
 */
const SLACK_MS = 250

type Window = readonly [number, number]

/** Turns a node's statuses into the windows in which it was not (or might not have been) delivering. */
class Outages {
  readonly windows: Window[] = []
  gaps = 0
  #downSince: number | undefined

  readonly onStatus = (status: EventwireStatus): void => {
    const now = Date.now()
    if (status.type === 'disconnected') this.#downSince ??= now
    if (status.type === 'gap') {
      this.gaps++
      this.windows.push([status.since, status.until])
    }
    if ((status.type === 'connected' || status.type === 'gap') && this.#downSince !== undefined) {
      this.windows.push([this.#downSince, now])
      this.#downSince = undefined
    }
  }

  /** Closes any open window (the node is going away). */
  end(at: number): void {
    if (this.#downSince !== undefined) this.windows.push([this.#downSince, at])
    this.#downSince = undefined
  }

  covers(at: number): boolean {
    return this.windows.some(([since, until]) => at >= since - SLACK_MS && at <= until + SLACK_MS)
  }
}

/** One incarnation of a spoke: a dispatcher and a receiver. */
interface SpokeLife {
  id: string
  target: ReturnType<typeof client>
  outages: Outages
  /** Dispatch times by sequence number (index n - 1). */
  sent: number[]
  /** Sequence numbers received, per dispatcher id, in arrival order. */
  received: Map<string, number[]>
  readyAt: number
  closedAt: number | undefined
  timer: ReturnType<typeof setInterval> | undefined
}

/** One incarnation of a hub with its Redis peer and what joins them. */
interface HubLife {
  running: RunningHub
  peer: RedisEventTarget
  link: { close(): void }
  clients: Array<Redis | Cluster>
  outages: Outages
}

let redis: RedisServer
const cleanup: Array<() => Promise<unknown> | unknown> = []

beforeAll(async () => {
  redis = await RedisServer.start()
})
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step()
})
afterAll(async () => {
  await redis?.stop()
})

function lcg(seed: number): () => number {
  let state = seed % 2_147_483_647 || 1
  return () => {
    state = (state * 16_807) % 2_147_483_647
    return state / 2_147_483_647
  }
}

/**
 * The topology both runs share: two hubs, each joined to its own Redis peer (on clients from
 * `redisClients`), and `SPOKES` spokes that know both hubs and dispatch numbered events.
 */
function chaosTopology(
  redisClients: () => Array<Redis | Cluster>,
  peerOptions: Pick<RedisEventTargetOptions, 'sharded'> = {},
) {
  const redisOutages: Outages[] = []
  const lives: SpokeLife[] = []
  const current: SpokeLife[] = []
  const hubs: HubLife[] = []
  let ports: number[] = []
  let urls: string[] = []
  let incarnation = 0

  async function startScaledHub(port = 0): Promise<HubLife> {
    const outages = new Outages()
    redisOutages.push(outages)
    const clients = redisClients()
    const peer = createRedisEventTarget({
      publishClient: clients[0]!,
      subscribeClient: clients[1]!,
      ...peerOptions,
      prefix: 'chaos:',
      onStatus: outages.onStatus,
      onError: () => {},
    })
    await peer.ready
    const running = await startHub({ onError: () => {} }, port)
    const link = join(running.hub, peer)
    return { running, peer, link, clients, outages }
  }

  async function stopScaledHub(life: HubLife): Promise<void> {
    life.link.close()
    await life.running.close()
    await life.peer.close()
    life.outages.end(Date.now())
    for (const redisClient of life.clients) redisClient.disconnect()
  }

  async function startSpoke(slot: number): Promise<SpokeLife> {
    const outages = new Outages()
    const own = slot % 2
    const target = client([urls[own]!, urls[1 - own]!], {
      onStatus: outages.onStatus,
      onError: () => {},
      reconnect: { initialDelayMs: 20, maxDelayMs: 100 },
      heartbeatIntervalMs: 500,
      heartbeatTimeoutMs: 1_500,
    })
    const life: SpokeLife = {
      id: `s${slot}.${incarnation++}`,
      target,
      outages,
      sent: [],
      received: new Map(),
      readyAt: 0,
      closedAt: undefined,
      timer: undefined,
    }
    target.addEventListener('tick', (event) => {
      const { from, n } = event.detail as { from: string; n: number }
      if (from === life.id) return // its own dispatch, delivered locally
      const list = life.received.get(from)
      if (list === undefined) life.received.set(from, [n])
      else list.push(n)
    })
    await target.ready
    await target.flush()
    life.readyAt = Date.now()
    life.timer = setInterval(() => {
      const n = life.sent.length + 1
      life.sent.push(Date.now())
      target.dispatchEvent(new CustomEvent('tick', { detail: { from: life.id, n } }))
    }, DISPATCH_EVERY_MS)
    lives.push(life)
    return life
  }

  async function stopSpoke(life: SpokeLife): Promise<void> {
    clearInterval(life.timer)
    life.closedAt = Date.now()
    await life.target.close()
    life.outages.end(life.closedAt)
  }

  return {
    redisOutages,
    lives,
    /** Two hubs, then the spokes; everything is stopped by `cleanup`. */
    async start(): Promise<void> {
      hubs.push(await startScaledHub(), await startScaledHub())
      ports = hubs.map((life) => life.running.port)
      urls = ports.map((port) => `ws://127.0.0.1:${port}/ws`)
      cleanup.push(async () => {
        for (const life of hubs) await stopScaledHub(life)
      })
      for (let slot = 0; slot < SPOKES; slot++) current.push(await startSpoke(slot))
      cleanup.push(async () => {
        for (const life of current) if (life.closedAt === undefined) await stopSpoke(life)
      })
    },
    /** Replaces hub `which` on its port, after a short seeded pause. */
    async restartHub(which: number, random: () => number): Promise<void> {
      await stopScaledHub(hubs[which]!)
      await new Promise((resolve) => setTimeout(resolve, random() * 300))
      hubs[which] = await startScaledHub(ports[which])
    },
    /** Replaces the spoke in `slot` with a new incarnation. */
    async replaceSpoke(slot: number): Promise<void> {
      await stopSpoke(current[slot]!)
      current[slot] = await startSpoke(slot)
    },
    /**
     * Quiet: waits until each hub that serves spokes has its interest on Redis (`subscribers` counts them),
     * lets the publishers run until their latest events lie clear of every window's slack, stops them,
     * and waits until every live spoke has the last event of every other.
     */
    async drain(subscribers: () => Promise<number>, timeoutMs: number): Promise<void> {
      // Spokes may all have moved to one hub: each hub that serves spokes has its interest on Redis.
      await waitFor(
        async () =>
          (await subscribers()) === hubs.filter((life) => life.running.hub.stats().connections > 0).length,
        { timeoutMs, message: 'the serving hubs subscribed on Redis' },
      )
      await Promise.all(current.map((life) => life.target.flush()))
      const recoveredAt = Date.now()
      await waitFor(() => current.every((life) => (life.sent.at(-1) ?? 0) > recoveredAt + 2 * SLACK_MS), {
        timeoutMs: 5_000,
      })
      for (const life of current) clearInterval(life.timer)
      await waitFor(
        () =>
          current.every((receiver) =>
            current.every(
              (dispatcher) =>
                dispatcher === receiver ||
                receiver.received.get(dispatcher.id)?.at(-1) === dispatcher.sent.length,
            ),
          ),
        { timeoutMs: 10_000, message: 'every live spoke received the last event of every other' },
      )
    },
  }
}

/**
 * Accounts for every event per (receiver, dispatcher): delivered, lost inside a window that a node on
 * its path reported (with the fault that came last before it), or unexplained; and counts duplicates and
 * events out of order, with the faults around the first ten.
 */
function account(lives: SpokeLife[], redisOutages: Outages[], faults: Array<[string, number]>) {
  let sent = 0
  let expected = 0
  let delivered = 0
  let received = 0
  let lostInGap = 0
  let duplicates = 0
  let outOfOrder = 0
  const unexplained: string[] = []
  const anomalies: string[] = []
  /** Losses by the fault that came last before them: how many, and how long after it (ms). */
  const lostAfter = new Map<string, { count: number; first: number; last: number }>()
  const faultsNear = (at: number) =>
    faults
      .filter(([, t]) => Math.abs(t - at) < 5_000)
      .map(([name, t]) => `${name}@${t - at}`)
      .join(' ')
  const near = (at: number, outages: Outages) =>
    outages.windows
      .filter(([since, until]) => Math.abs(since - at) < 3_000 || Math.abs(until - at) < 3_000)
      .map(([since, until]) => `[${since - at}, ${until - at}]`)
      .join(' ')
  for (const dispatcher of lives) sent += dispatcher.sent.length
  for (const receiver of lives) {
    for (const dispatcher of lives) {
      if (dispatcher === receiver) continue
      const got = receiver.received.get(dispatcher.id) ?? []
      received += got.length
      const seen = new Set<number>()
      let last = 0
      for (const n of got) {
        const anomaly = seen.has(n) ? 'duplicate' : n < last ? 'out of order' : undefined
        if (anomaly === 'duplicate') duplicates++
        else if (anomaly !== undefined) outOfOrder++
        if (anomaly !== undefined && anomalies.length < 10) {
          anomalies.push(
            `${anomaly}: ${dispatcher.id} #${n} (after #${last}) -> ${receiver.id}: faults ${faultsNear(dispatcher.sent[n - 1]!)}`,
          )
        }
        seen.add(n)
        last = Math.max(last, n)
        expect(n >= 1 && n <= dispatcher.sent.length).toBe(true)
      }
      const from = receiver.readyAt + SLACK_MS
      const to = (receiver.closedAt ?? Number.POSITIVE_INFINITY) - SLACK_MS
      dispatcher.sent.forEach((at, index) => {
        if (at < from || at > to) return // the receiver was not listening yet, or any more
        expected++
        if (seen.has(index + 1)) {
          delivered++
          return
        }
        const excused =
          receiver.outages.covers(at) ||
          dispatcher.outages.covers(at) ||
          redisOutages.some((outages) => outages.covers(at)) ||
          (dispatcher.closedAt !== undefined && at > dispatcher.closedAt - SLACK_MS)
        if (excused) {
          lostInGap++
          const [cause, faultAt] = faults.filter(([, t]) => t <= at + SLACK_MS).at(-1) ?? ['start', 0]
          const entry = lostAfter.get(cause) ?? { count: 0, first: at - faultAt, last: at - faultAt }
          entry.count++
          entry.first = Math.min(entry.first, at - faultAt)
          entry.last = Math.max(entry.last, at - faultAt)
          lostAfter.set(cause, entry)
        } else {
          unexplained.push(
            `${dispatcher.id} #${index + 1} -> ${receiver.id}: receiver ${near(at, receiver.outages)}; ` +
              `dispatcher ${near(at, dispatcher.outages)}; ` +
              `redis ${redisOutages.map((outages) => near(at, outages)).join(' ')}; faults ${faultsNear(at)}`,
          )
        }
      })
    }
  }
  const gaps = lives.reduce((sum, life) => sum + life.outages.gaps, 0)
  const redisGaps = redisOutages.reduce((sum, outages) => sum + outages.gaps, 0)
  const summary =
    `spokes=${lives.length} sent=${sent} expected=${expected} delivered=${delivered} ` +
    `lost-in-gap=${lostInGap} received-in-total=${received} duplicates=${duplicates} ` +
    `out-of-order=${outOfOrder} unexplained=${unexplained.length} spoke-gaps=${gaps} ` +
    `redis-gaps=${redisGaps} lost-after=${[...lostAfter]
      .map(([fault, { count, first, last }]) => `${fault}:${count}[${first}..${last}ms]`)
      .join(',')}`
  return {
    expected,
    delivered,
    lostInGap,
    duplicates,
    outOfOrder,
    unexplained,
    anomalies,
    gaps,
    redisGaps,
    summary,
  }
}

describe('chaos', () => {
  it(
    'Redis, hub and spoke failures under steady load: every event at most once, in order, every loss inside a reported window',
    async () => {
      const random = lcg(SEED)
      const topology = chaosTopology(() =>
        [0, 1].map(() => new Redis(redis.port, '127.0.0.1', { retryStrategy: () => 50 })),
      )
      await topology.start()
      const subscribers = async () =>
        Number((await redis.cli('PUBSUB', 'NUMSUB', 'chaos:tick')).split('\n')[1])
      // Both bridges have the interest on Redis before the clock starts.
      await waitFor(async () => (await subscribers()) === 2, { timeoutMs: 5_000 })

      // --- the faults ---
      const actions: string[] = []
      const faults: Array<[string, number]> = []
      const until = Date.now() + CHAOS_MS
      while (Date.now() < until) {
        await new Promise((resolve) => setTimeout(resolve, 400 + random() * 800))
        const pick = random()
        const faultAt = Date.now()
        if (pick < 0.3) {
          actions.push('redis')
          await redis.restart()
        } else if (pick < 0.6) {
          const which = random() < 0.5 ? 0 : 1
          actions.push(`hub${which}`)
          await topology.restartHub(which, random)
        } else {
          const slot = Math.floor(random() * SPOKES)
          actions.push(`spoke${slot}`)
          await topology.replaceSpoke(slot)
        }
        faults.push([actions.at(-1)!, faultAt])
      }
      await topology.drain(subscribers, 10_000)

      const result = account(topology.lives, topology.redisOutages, faults)
      console.log(`chaos: seed=${SEED} faults=${actions.length} (${actions.join(' ')}) ${result.summary}`)
      expect(result.duplicates).toBe(0)
      expect(result.outOfOrder).toBe(0)
      expect(result.unexplained.slice(0, 10)).toEqual([])
      // The chaos really happened, and most events still arrived.
      expect(actions.length).toBeGreaterThanOrEqual(5)
      expect(result.gaps).toBeGreaterThan(0)
      expect(result.delivered + result.lostInGap).toBe(result.expected)
      expect(result.delivered).toBeGreaterThan(result.expected / 2)
    },
    CHAOS_MS + 28_000,
  )
})

/**
 * The same chaos on a Redis Cluster (3 masters with a replica each, sharded pub/sub, or classic with
 * `CHAOS_CLUSTER_MODE=classic`): the seeded schedule
 * kills a master with kill -9 and restarts it on its port, kills a master for good so that its replica
 * takes over (then restarts it, as a replica), moves the slot of the events' channel to another master,
 * and restarts hubs and replaces spokes. The first three faults are one of each cluster fault, in a seeded
 * order. The accounting is the same: at most once, in order, every loss inside a reported window.
 *
 * `CHAOS_CLUSTER_MS` sets how long the faults run (default 30 s), `CHAOS_SEED` the schedule.
 */
const CHAOS_CLUSTER_MS = Number(process.env.CHAOS_CLUSTER_MS ?? 30_000)
const CLUSTER_SHARDED = process.env.CHAOS_CLUSTER_MODE !== 'classic'
describe('chaos on a redis cluster', () => {
  let cluster: RedisClusterServers
  beforeAll(async () => {
    cluster = await RedisClusterServers.start(3, { replicas: 1 })
  }, 60_000)
  afterAll(async () => {
    await cluster?.stop()
  })

  it(
    'master kills, a failover to a replica, a slot migration, hub and spoke failures under steady load: every event at most once, in order, every loss inside a reported window',
    async () => {
      const random = lcg(SEED)
      const channel = 'chaos:tick'
      const slot = await cluster.slotOf(channel)
      const topology = chaosTopology(() => [0, 1].map(() => new Cluster(cluster.startupNodes)), {
        sharded: CLUSTER_SHARDED,
      })
      await topology.start()
      const subscribers = async () => {
        let count = 0
        for (const node of cluster.nodes) {
          if (!node.isRunning) continue
          const reply = await node
            .cli('PUBSUB', CLUSTER_SHARDED ? 'SHARDNUMSUB' : 'NUMSUB', channel)
            .catch(() => '')
          count += Number(reply.split('\n')[1] ?? 0) || 0
        }
        return count
      }
      await waitFor(async () => (await subscribers()) === 2, { timeoutMs: 5_000 })

      // --- the faults: one of each cluster fault first, in a seeded order, then a seeded mix ---
      const clusterFaults = ['kill', 'failover', 'migrate']
      for (let i = clusterFaults.length - 1; i > 0; i--) {
        const j = Math.floor(random() * (i + 1))
        ;[clusterFaults[i], clusterFaults[j]] = [clusterFaults[j]!, clusterFaults[i]!]
      }
      const actions: string[] = []
      const faults: Array<[string, number]> = []
      const until = Date.now() + CHAOS_CLUSTER_MS
      while (Date.now() < until || clusterFaults.length > 0) {
        await new Promise((resolve) => setTimeout(resolve, 400 + random() * 800))
        const pick = random()
        const fault =
          clusterFaults.shift() ??
          (pick < 0.2 ? 'kill' : pick < 0.3 ? 'migrate' : pick < 0.65 ? 'hub' : 'spoke')
        const faultAt = Date.now()
        if (fault === 'kill') {
          // The owner of the events' slot half of the time, another master otherwise.
          const masters = await cluster.masters()
          const owner = await cluster.ownerOf(slot)
          const victim =
            random() < 0.5 ? owner : masters.filter((node) => node !== owner)[Math.floor(random() * 2)]!
          actions.push(`kill:${victim === owner ? 'owner' : 'other'}`)
          await victim.kill()
          await new Promise((resolve) => setTimeout(resolve, 300 + random() * 700))
          await victim.restart()
          await cluster.waitHealthy()
        } else if (fault === 'failover') {
          const owner = await cluster.ownerOf(slot)
          actions.push('failover')
          await owner.kill()
          await waitFor(async () => (await cluster.ownerOf(slot).catch(() => owner)) !== owner, {
            timeoutMs: 20_000,
            intervalMs: 100,
            message: 'a replica took over',
          })
          await owner.restart()
          await cluster.waitHealthy()
        } else if (fault === 'migrate') {
          const owner = await cluster.ownerOf(slot)
          const others = (await cluster.masters()).filter((node) => node !== owner)
          actions.push('migrate')
          await cluster.moveSlot(slot, others[Math.floor(random() * others.length)]!)
        } else if (fault === 'hub') {
          const which = random() < 0.5 ? 0 : 1
          actions.push(`hub${which}`)
          await topology.restartHub(which, random)
        } else {
          const index = Math.floor(random() * SPOKES)
          actions.push(`spoke${index}`)
          await topology.replaceSpoke(index)
        }
        faults.push([`${actions.at(-1)!}#${actions.length}`, faultAt])
      }
      await topology.drain(subscribers, 15_000)

      const result = account(topology.lives, topology.redisOutages, faults)
      console.log(
        `chaos on a cluster (${CLUSTER_SHARDED ? 'sharded' : 'classic'}): seed=${SEED} ` +
          `faults=${actions.length} (${actions.join(' ')}) ${result.summary}`,
      )
      expect(result.anomalies).toEqual([])
      expect(result.duplicates).toBe(0)
      expect(result.outOfOrder).toBe(0)
      expect(result.unexplained.slice(0, 10)).toEqual([])
      expect(actions.filter((action) => action.startsWith('kill')).length).toBeGreaterThanOrEqual(1)
      expect(actions).toContain('failover')
      expect(actions).toContain('migrate')
      // Every cluster fault was reported by the hubs' Redis peers.
      expect(result.redisGaps).toBeGreaterThanOrEqual(3)
      expect(result.delivered + result.lostInGap).toBe(result.expected)
      expect(result.delivered).toBeGreaterThan(result.expected / 2)
    },
    CHAOS_CLUSTER_MS + 50_000,
  )
})
