import { Cluster, type ClusterOptions } from 'ioredis'
import { Cluster as Cluster6 } from 'ioredis6'
import { createRedisEventTarget, type RedisEventTarget } from '../../src/event-target-redis/index.js'
import type { EventwireError, EventwireStatus } from '../../src/index.js'
import { waitFor } from '../../src/testing/index.js'

/** The ioredis majors the Redis target is tested with against a real cluster. */
export const CLUSTER_CLIENTS = [
  {
    name: 'ioredis 5',
    create: (nodes: StartupNodes, options: ClusterOptions) => new Cluster(nodes, options),
  },
  {
    name: 'ioredis 6',
    // The target is typed against the ioredis it declares as peer; the 6.x Cluster has the same surface.
    create: (nodes: StartupNodes, options: ClusterOptions) =>
      new Cluster6(nodes, options as ConstructorParameters<typeof Cluster6>[1]) as unknown as Cluster,
  },
] as const

export type StartupNodes = Array<{ host: string; port: number }>
export type ClusterClient = (typeof CLUSTER_CLIENTS)[number]

/**
 * Slack around a reported window: an event already on the wire when a connection breaks is lost although
 * it was dispatched a moment before the break was noticed.
 */
export const SLACK_MS = 250

/** Turns a target's statuses into the windows in which it was not (or might not have been) delivering. */
export class Outages {
  readonly windows: Array<readonly [number, number]> = []
  readonly statuses: Array<{ at: number; status: EventwireStatus }> = []
  gaps = 0
  #downSince: number | undefined

  readonly onStatus = (status: EventwireStatus): void => {
    const now = Date.now()
    this.statuses.push({ at: now, status })
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

  get isDown(): boolean {
    return this.#downSince !== undefined
  }

  /** Gaps reported after `at`. */
  gapsAfter(at: number): number {
    return this.statuses.filter(({ at: when, status }) => status.type === 'gap' && when >= at).length
  }

  covers(at: number): boolean {
    if (this.#downSince !== undefined && at >= this.#downSince - SLACK_MS) return true
    return this.windows.some(([since, until]) => at >= since - SLACK_MS && at <= until + SLACK_MS)
  }
}

export interface LoadPeer {
  readonly name: string
  readonly target: RedisEventTarget
  readonly outages: Outages
  readonly errors: EventwireError[]
  /** type -> the numbers received from the dispatcher, in arrival order. */
  readonly received: Map<string, number[]>
  readyAt: number
  close(): Promise<void>
}

/** A target on two Cluster clients of `client`'s ioredis, listening to `types` when asked to. */
export async function startPeer(
  client: ClusterClient,
  nodes: StartupNodes,
  options: { name: string; sharded: boolean; prefix: string; listen?: readonly string[] },
): Promise<LoadPeer> {
  const clusterOptions: ClusterOptions = {
    shardedSubscribers: options.sharded,
    redisOptions: { connectionName: options.name },
  }
  const clients = [client.create(nodes, clusterOptions), client.create(nodes, clusterOptions)]
  const outages = new Outages()
  const errors: EventwireError[] = []
  const target = createRedisEventTarget({
    publishClient: clients[0]!,
    subscribeClient: clients[1]!,
    sharded: options.sharded,
    prefix: options.prefix,
    onStatus: outages.onStatus,
    onError: (error) => errors.push(error),
  })
  const received = new Map<string, number[]>()
  for (const type of options.listen ?? []) {
    const list: number[] = []
    received.set(type, list)
    target.addEventListener(type, (event) => list.push((event as CustomEvent<{ n: number }>).detail.n))
  }
  await target.ready
  await target.flush()
  return {
    name: options.name,
    target,
    outages,
    errors,
    received,
    readyAt: Date.now(),
    close: async () => {
      await target.close()
      for (const redis of clients) redis.disconnect()
    },
  }
}

/**
 * A dispatcher sending `perTick` numbered events every `everyMs`, round robin over `types`, with each
 * event's dispatch time kept per type.
 */
export class Load {
  /** type -> dispatch time of event n at index n - 1. */
  readonly sent = new Map<string, number[]>()
  #timer: ReturnType<typeof setInterval> | undefined
  #next = 0

  constructor(
    readonly dispatcher: LoadPeer,
    readonly types: readonly string[],
    readonly options: { everyMs: number; perTick: number } = { everyMs: 5, perTick: 5 },
  ) {
    for (const type of types) this.sent.set(type, [])
  }

  start(): void {
    this.#timer = setInterval(() => {
      for (let i = 0; i < this.options.perTick; i++) this.dispatch()
    }, this.options.everyMs)
  }

  dispatch(type = this.types[this.#next++ % this.types.length]!): void {
    const times = this.sent.get(type)!
    times.push(Date.now())
    this.dispatcher.target.dispatchEvent(new CustomEvent(type, { detail: { n: times.length } }))
  }

  /** Runs for `ms` more. */
  async run(ms: number): Promise<void> {
    await new Promise((resolve) => setTimeout(resolve, ms))
  }

  stop(): void {
    clearInterval(this.#timer)
  }

  get count(): number {
    let count = 0
    for (const times of this.sent.values()) count += times.length
    return count
  }
}

export interface Accounting {
  sent: number
  expected: number
  delivered: number
  lostInGap: number
  duplicates: number
  outOfOrder: number
  unexplained: string[]
}

/**
 * Every event accounted for per (receiver, type): at most once, in dispatch order, and every missing one
 * dispatched inside a window the receiver or the dispatcher reported.
 */
export function account(load: Load, receivers: readonly LoadPeer[]): Accounting {
  const result: Accounting = {
    sent: load.count,
    expected: 0,
    delivered: 0,
    lostInGap: 0,
    duplicates: 0,
    outOfOrder: 0,
    unexplained: [],
  }
  for (const receiver of receivers) {
    for (const [type, times] of load.sent) {
      const got = receiver.received.get(type) ?? []
      const seen = new Set<number>()
      let last = 0
      for (const n of got) {
        if (seen.has(n)) result.duplicates++
        else if (n < last) result.outOfOrder++
        seen.add(n)
        last = Math.max(last, n)
      }
      times.forEach((at, index) => {
        if (at < receiver.readyAt) return
        result.expected++
        if (seen.has(index + 1)) {
          result.delivered++
          return
        }
        if (receiver.outages.covers(at) || load.dispatcher.outages.covers(at)) result.lostInGap++
        else if (result.unexplained.length < 20) {
          const near = (peer: LoadPeer) =>
            peer.outages.windows
              .filter(([since, until]) => Math.abs(since - at) < 5_000 || Math.abs(until - at) < 5_000)
              .map(([since, until]) => `[${since - at}, ${until - at}]`)
              .join(' ')
          result.unexplained.push(
            `${type} #${index + 1} -> ${receiver.name}: receiver ${near(receiver)}; dispatcher ${near(load.dispatcher)}`,
          )
        } else result.unexplained.push('…')
      })
    }
  }
  return result
}

/** Waits until every receiver has the last event of every type. */
export async function waitDrained(
  load: Load,
  receivers: readonly LoadPeer[],
  timeoutMs = 15_000,
): Promise<void> {
  await waitFor(
    () =>
      receivers.every((receiver) =>
        [...load.sent].every(([type, times]) => receiver.received.get(type)?.at(-1) === times.length),
      ),
    { timeoutMs, message: 'every receiver got the last event of every type' },
  )
}
