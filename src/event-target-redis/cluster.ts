import type { Cluster, Redis } from 'ioredis'
import { EventwireError } from '../core/errors.js'

/**
 * What a Redis target needs to use a Redis Cluster without losing events silently. ioredis connects to
 * the nodes of a `Cluster` lazily, lets a PUBLISH issued while a node's connection is being made overtake
 * earlier ones, routes keyless commands to any node, gives up a node's connection for good when the node
 * fails, and (5.x) loses its own sharded subscriptions when a slot moves. So on a Cluster the target:
 *
 * - publishes every channel through one master's connection from the client's pool (the slot owner for
 *   sharded pub/sub; a stable choice among the masters for classic), connects to every master eagerly,
 *   and holds a channel's events while its connection is not usable;
 * - subscribes through connections of its own, one per master for sharded pub/sub and one for classic,
 *   made from the subscribe client's node options, and places each channel on its slot owner again when
 *   the topology changes or Redis takes the subscription away;
 * - reports a lost connection it used as a disconnection, and the recovery as a gap.
 */

/** Hash slots of a Redis Cluster. */
const SLOT_COUNT = 16_384

const CRC16_TABLE = (() => {
  const table = new Uint16Array(256)
  for (let byte = 0; byte < 256; byte++) {
    let crc = byte << 8
    for (let bit = 0; bit < 8; bit++)
      crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff
    table[byte] = crc
  }
  return table
})()

const encoder = new TextEncoder()

/** The hash slot of a key or shard channel: CRC16 of its hash tag (`{…}`) or of the whole name, mod 16384. */
export function hashSlot(name: string): number {
  let bytes = encoder.encode(name)
  const open = bytes.indexOf(0x7b)
  if (open !== -1) {
    const close = bytes.indexOf(0x7d, open + 1)
    if (close > open + 1) bytes = bytes.subarray(open + 1, close)
  }
  let crc = 0
  for (const byte of bytes) crc = ((crc << 8) & 0xffff) ^ CRC16_TABLE[((crc >> 8) ^ byte) & 0xff]!
  return crc & (SLOT_COUNT - 1)
}

/** Channels whose slot a cache remembers at most (it starts again past that). */
const MAX_CACHED_SLOTS = 10_000

/**
 * Hash slots of channels, remembered: a channel's slot never changes, and CRC16 of its UTF-8 bytes on
 * every publish or subscribe would cost more than the lookup.
 */
class SlotCache {
  readonly #byChannel = new Map<string, number>()

  of(channel: string): number {
    let slot = this.#byChannel.get(channel)
    if (slot === undefined) {
      if (this.#byChannel.size >= MAX_CACHED_SLOTS) this.#byChannel.clear()
      slot = hashSlot(channel)
      this.#byChannel.set(channel, slot)
    }
    return slot
  }
}

/** `host:port`, as a Cluster names a node in its slot table. */
export function nodeKey(node: Redis): string {
  return `${node.options.host ?? '127.0.0.1'}:${node.options.port ?? 6379}`
}

/** The masters that own at least one slot, by key, sorted. */
export function slotOwners(cluster: Cluster): string[] {
  const owners = new Set<string>()
  const slots = cluster.slots
  for (let slot = 0; slot < SLOT_COUNT; slot++) {
    const owner = slots[slot]?.[0]
    if (owner !== undefined) owners.add(owner)
  }
  return [...owners].sort()
}

/**
 * The key that `name` is placed on among `keys` (rendezvous hashing): a key that leaves or comes back
 * moves only the names placed on it. `skip` takes the next choices in the same order.
 */
export function rendezvous(name: string, keys: readonly string[], skip = 0): string | undefined {
  if (keys.length === 0) return undefined
  if (keys.length === 1) return keys[0]
  const ranked = keys
    .map((key) => [key, hashString(`${name}\n${key}`)] as const)
    .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))
  return ranked[skip % ranked.length]![0]
}

/** FNV-1a, 32 bits: cheap and stable, which is all a node choice needs. */
export function hashString(text: string): number {
  let hash = 0x811c9dc5
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i)
    hash = Math.imul(hash, 0x01000193)
  }
  return hash >>> 0
}

/** Error replies that go away once the cluster settles: the command may be sent again. */
const TRANSIENT_REPLY = /^(MOVED|ASK|TRYAGAIN|CLUSTERDOWN|LOADING|MASTERDOWN|READONLY) /

/**
 * True when a command failed because of the cluster's state (a connection closed, a slot moved), not
 * because of the command: sending it again later may succeed.
 */
export function isTransient(error: unknown): boolean {
  if (!(error instanceof Error)) return false
  if (TRANSIENT_REPLY.test(error.message)) return true
  // Error replies are ReplyErrors in ioredis 5 and 6; anything else failed on the client side.
  return !/ReplyError/.test(error.name) && !/ReplyError/.test(error.constructor.name)
}

/** Moved slots show up as MOVED or ASK replies; the slot table must be read again. */
export function isMoved(error: unknown): boolean {
  return error instanceof Error && /^(MOVED|ASK) /.test(error.message)
}

/**
 * Tells whether a master (by `host:port`) is up as far as the target can tell: true or false when it has
 * a connection to it, undefined when it does not know the node.
 */
export type Reachability = (key: string) => boolean | undefined

/**
 * Whether the node behind `connection` has its cluster bus links, both ways, to every other master that
 * is up. A node that has just started takes a moment to link up, and classic pub/sub travels over those
 * links: a PUBLISH on it, or a message for a subscriber on it, is lost until then. A master counts as up
 * unless the node considers it failing or `isUp` says the target cannot reach it (a master that is down
 * has no links, and nothing is published on it). True when the node cannot tell (no CLUSTER LINKS before
 * Redis 7, or not allowed).
 */
export async function busLinked(connection: Redis, isUp: Reachability = () => undefined): Promise<boolean> {
  let nodes: unknown
  let links: unknown
  try {
    ;[nodes, links] = await Promise.all([
      connection.call('CLUSTER', 'NODES'),
      connection.call('CLUSTER', 'LINKS'),
    ])
  } catch (error) {
    return !isTransient(error)
  }
  if (typeof nodes !== 'string' || !Array.isArray(links)) return true
  const linked = new Set<string>()
  for (const link of links) {
    if (!Array.isArray(link)) continue
    const fields = new Map<string, string>()
    for (let i = 0; i + 1 < link.length; i += 2) fields.set(String(link[i]), String(link[i + 1]))
    linked.add(`${fields.get('direction')} ${fields.get('node')}`)
  }
  for (const line of nodes.split('\n')) {
    const [id, address, flags] = line.split(' ')
    if (id === undefined || address === undefined || flags === undefined) continue
    const flagSet = new Set(flags.split(','))
    if (!flagSet.has('master') || flagSet.has('myself')) continue
    if (['fail', 'fail?', 'handshake', 'noaddr'].some((flag) => flagSet.has(flag))) continue
    if (isUp(address.split('@')[0]!) === false) continue
    if (!linked.has(`to ${id}`) || !linked.has(`from ${id}`)) return false
  }
  return true
}

/** What a side of the target hears from its connections to a cluster. */
export interface LinkHooks {
  /** A connection in use was lost, or Redis took a subscription away: events may be missing from now. */
  lost(): void
  /** Something changed that may let held events go out or a recovery complete. */
  changed(): void
  error(error: EventwireError): void
  /** A topology refresh is scheduled after `delayMs`, the `attempt`-th since the cluster was last healthy. */
  retrying(attempt: number, delayMs: number): void
}

type Listener = (...args: never[]) => void

/** Event listeners added to emitters the target does not own, removed in one go. */
class Listeners {
  readonly #added: Array<[NodeJS.EventEmitter, string, Listener]> = []

  on(emitter: NodeJS.EventEmitter, event: string, listener: Listener): void {
    emitter.on(event, listener as (...args: unknown[]) => void)
    this.#added.push([emitter, event, listener])
  }

  off(emitter: NodeJS.EventEmitter): void {
    for (let i = this.#added.length - 1; i >= 0; i--) {
      const [target, event, listener] = this.#added[i]!
      if (target !== emitter) continue
      target.off(event, listener as (...args: unknown[]) => void)
      this.#added.splice(i, 1)
    }
  }

  clear(): void {
    for (const [emitter, event, listener] of this.#added.splice(0))
      emitter.off(event, listener as (...args: unknown[]) => void)
  }
}

const FIRST_RETRY_MS = 50
/**
 * The longest wait between two readings of the slot table while the cluster is unhealthy: 1 s on the
 * publish side, 250 ms on the subscribe side, so that after a failover a receiver tends to be subscribed
 * on the new owner before a dispatcher publishes there what it held.
 */
const MAX_PUBLISH_RETRY_MS = 1_000
const MAX_SUBSCRIBE_RETRY_MS = 250
/** A sharded subscriber connection dials its node again after this long (its node may just restart). */
const REDIAL_MS = 50
/** How often a node that is not linked to the others yet is asked again, and for how long at most. */
const BUS_CHECK_INTERVAL_MS = 50
const BUS_CHECK_LIMIT_MS = 3_000

/**
 * Reads the slot table again (CLUSTER SLOTS through the client), at once when asked after a quiet
 * period and with a growing delay while the cluster stays unhealthy. Requests made meanwhile coalesce.
 */
class Refresher {
  #timer: ReturnType<typeof setTimeout> | undefined
  #isRunning = false
  #isRequested = false
  #attempts = 0
  #isClosed = false

  constructor(
    private readonly cluster: Cluster,
    private readonly done: () => void,
    private readonly retrying: (attempt: number, delayMs: number) => void,
    private readonly maxDelayMs: number,
  ) {}

  request(): void {
    if (this.#isClosed) return
    if (this.#isRunning || this.#timer !== undefined) {
      this.#isRequested = true
      return
    }
    const delay =
      this.#attempts === 0 ? 0 : Math.min(FIRST_RETRY_MS * 2 ** (this.#attempts - 1), this.maxDelayMs)
    this.#attempts++
    if (delay > 0) this.retrying(this.#attempts - 1, delay)
    this.#timer = setTimeout(() => {
      this.#timer = undefined
      this.#run()
    }, delay)
    this.#timer.unref?.()
  }

  /** The cluster is healthy: the next request goes out at once. */
  settle(): void {
    this.#attempts = 0
  }

  get isPending(): boolean {
    return this.#isRunning || this.#timer !== undefined
  }

  close(): void {
    this.#isClosed = true
    clearTimeout(this.#timer)
    this.#timer = undefined
  }

  #run(): void {
    if (this.#isClosed || this.cluster.status === 'end') return
    this.#isRunning = true
    this.cluster.refreshSlotsCache(() => {
      this.#isRunning = false
      if (this.#isClosed) return
      this.done()
      if (this.#isRequested) {
        this.#isRequested = false
        this.request()
      }
    })
  }
}

/** The masters' connections in the publish client's pool, as the target publishes through them. */
interface PoolNode {
  readonly redis: Redis
  /** Ready, and for classic pub/sub linked to the other masters: channels may publish through it. */
  isUsable: boolean
  /** The node's bus links are being checked. */
  isChecking: boolean
}

/**
 * The publish side on a Cluster: which pool connection each channel publishes through, whether it is
 * usable, and the eager connections and slot table refreshes that keep every master's connection usable.
 */
export class ClusterPublishLinks {
  readonly #cluster: Cluster
  readonly #isSharded: boolean
  readonly #hooks: LinkHooks
  readonly #listeners = new Listeners()
  readonly #nodes = new Map<Redis, PoolNode>()
  readonly #refresher: Refresher
  /** key -> pool connection; rebuilt after the pool changes. */
  #byKey: Map<string, Redis> | undefined
  #owners: string[] | undefined
  /** Channels whose slot moved: held until the slot table has been read again. */
  readonly #stale = new Set<string>()
  readonly #slots = new SlotCache()
  /** Classic pub/sub: channel -> the master it publishes through, until the owners change. */
  readonly #classicRoutes = new Map<string, string | undefined>()
  #isClosed = false

  constructor(cluster: Cluster, isSharded: boolean, hooks: LinkHooks) {
    this.#cluster = cluster
    this.#isSharded = isSharded
    this.#hooks = hooks
    this.#refresher = new Refresher(
      cluster,
      () => {
        this.#invalidate()
        this.#stale.clear()
        this.#connectOwners()
        this.#hooks.changed()
      },
      hooks.retrying,
      MAX_PUBLISH_RETRY_MS,
    )
    this.#listeners.on(cluster, '+node', (redis: Redis) => {
      this.#invalidate()
      this.#watch(redis)
      this.#connectOwners()
    })
    this.#listeners.on(cluster, '-node', (redis: Redis) => {
      this.#invalidate()
      const node = this.#nodes.get(redis)
      if (node !== undefined) this.#closed(node)
      this.#unwatch(redis)
      this.#refresher.request()
    })
    for (const event of ['refresh', 'ready']) {
      this.#listeners.on(cluster, event, () => {
        this.#invalidate()
        this.#connectOwners()
        this.#hooks.changed()
      })
    }
    for (const node of cluster.nodes('all')) this.#watch(node)
    this.#connectOwners()
  }

  /** The connection `channel` publishes through now, or undefined when its events must be held. */
  route(channel: string): Redis | undefined {
    if (this.#cluster.status !== 'ready' || this.#stale.has(channel)) return undefined
    const key = this.#keyOf(channel)
    const redis = key === undefined ? undefined : this.#connections().get(key)
    if (redis === undefined) {
      this.#refresher.request()
      return undefined
    }
    if (this.#nodes.get(redis)?.isUsable === true) return redis
    if (redis.status === 'wait') this.#connect(redis)
    return undefined
  }

  /**
   * A publish through it failed with `error`: true when its events should be published again (the
   * cluster's state made it fail, not the message).
   */
  failed(channel: string, error: unknown): boolean {
    if (!isTransient(error)) return false
    if (isMoved(error)) this.#stale.add(channel)
    this.#refresher.request()
    return true
  }

  /** Every master owning slots has a usable connection and no channel waits for the slot table. */
  isHealthy(): boolean {
    if (this.#cluster.status !== 'ready' || this.#stale.size > 0) return false
    const owners = this.#ownerKeys()
    if (owners.length === 0) return false
    const connections = this.#connections()
    const healthy = owners.every((key) => {
      const redis = connections.get(key)
      return redis !== undefined && this.#nodes.get(redis)?.isUsable === true
    })
    if (healthy) this.#refresher.settle()
    return healthy
  }

  /**
   * Whether the target's connection to the master `key` is up; a slot owner without one (ioredis dropped
   * it when the node went down) is not. Undefined for a node the target does not know by that address.
   */
  readonly isConnected: Reachability = (key) => {
    const redis = this.#connections().get(key)
    if (redis !== undefined) return redis.status === 'ready'
    return this.#ownerKeys().includes(key) ? false : undefined
  }

  /** Usable connections to the masters that own slots. */
  usableCount(): number {
    const connections = this.#connections()
    let count = 0
    for (const key of this.#ownerKeys()) {
      const redis = connections.get(key)
      if (redis !== undefined && this.#nodes.get(redis)?.isUsable === true) count++
    }
    return count
  }

  close(): void {
    this.#isClosed = true
    this.#refresher.close()
    this.#listeners.clear()
    this.#nodes.clear()
  }

  #keyOf(channel: string): string | undefined {
    if (this.#isSharded) {
      return this.#cluster.slots[this.#slots.of(channel)]?.[0]
    }
    if (this.#classicRoutes.has(channel)) return this.#classicRoutes.get(channel)
    if (this.#classicRoutes.size >= 10_000) this.#classicRoutes.clear()
    const key = rendezvous(channel, this.#ownerKeys())
    this.#classicRoutes.set(channel, key)
    return key
  }

  #ownerKeys(): string[] {
    this.#owners ??= slotOwners(this.#cluster)
    return this.#owners
  }

  #connections(): Map<string, Redis> {
    if (this.#byKey === undefined) {
      this.#byKey = new Map()
      for (const redis of this.#cluster.nodes('all')) this.#byKey.set(nodeKey(redis), redis)
    }
    return this.#byKey
  }

  #invalidate(): void {
    this.#byKey = undefined
    this.#owners = undefined
    this.#classicRoutes.clear()
  }

  /** Connects every slot owner's pool connection now, not at its first command; reads the slots when one is missing. */
  #connectOwners(): void {
    if (this.#isClosed || this.#cluster.status !== 'ready') return
    const connections = this.#connections()
    for (const key of this.#ownerKeys()) {
      const redis = connections.get(key)
      if (redis === undefined) this.#refresher.request()
      else if (redis.status === 'wait') this.#connect(redis)
    }
  }

  #connect(redis: Redis): void {
    redis.connect().catch(() => {})
  }

  #watch(redis: Redis): void {
    if (this.#isClosed || this.#nodes.has(redis)) return
    const node: PoolNode = { redis, isUsable: false, isChecking: false }
    this.#nodes.set(redis, node)
    this.#listeners.on(redis, 'ready', () => this.#ready(node))
    this.#listeners.on(redis, 'close', () => this.#closed(node))
    this.#listeners.on(redis, 'end', () => this.#unwatch(redis))
    if (redis.status === 'ready') this.#ready(node)
  }

  #unwatch(redis: Redis): void {
    this.#listeners.off(redis)
    this.#nodes.delete(redis)
  }

  #ready(node: PoolNode): void {
    if (this.#isSharded) {
      node.isUsable = true
      this.#hooks.changed()
      return
    }
    if (node.isChecking) return
    node.isChecking = true
    void waitForBus(node.redis, () => this.#isClosed || node.redis.status !== 'ready', this.isConnected).then(
      () => {
        node.isChecking = false
        if (this.#isClosed || node.redis.status !== 'ready') return
        node.isUsable = true
        this.#hooks.changed()
      },
    )
  }

  #closed(node: PoolNode): void {
    const wasUsable = node.isUsable
    node.isUsable = false
    if (this.#isClosed) return
    // A replica's connection (the application may read through the client) carries none of our events.
    if (wasUsable && this.#ownerKeys().includes(nodeKey(node.redis))) {
      this.#hooks.lost()
      this.#refresher.request()
    }
    this.#hooks.changed()
  }
}

/** Waits until the node's bus links are up, for BUS_CHECK_LIMIT_MS at most. */
async function waitForBus(redis: Redis, isGone: () => boolean, isUp?: Reachability): Promise<void> {
  const deadline = Date.now() + BUS_CHECK_LIMIT_MS
  while (!isGone() && Date.now() < deadline) {
    if (await busLinked(redis, isUp)) return
    await new Promise((resolve) => setTimeout(resolve, BUS_CHECK_INTERVAL_MS))
  }
}

/** One subscriber connection of the target's own, to one master. */
interface SubscriberLink {
  readonly key: string
  readonly redis: Redis
  /** Ready, and for classic pub/sub linked to the other masters: (un)subscribe commands may go out. */
  isUsable: boolean
  /** Channels whose subscription Redis has answered on this connection. */
  readonly confirmed: Set<string>
  /** channel -> the token of its subscribe command awaiting an answer. */
  readonly pending: Map<string, number>
  /** Tokens of the unsubscribe commands awaiting an answer. */
  readonly unsubscribing: Set<number>
}

/**
 * The subscribe side on a Cluster: connections of the target's own (one per master for sharded pub/sub,
 * one for classic), each channel subscribed on the connection of its slot's owner, and placed again when
 * a connection is lost, the slot table changes or Redis sends a channel's `sunsubscribe`.
 */
export class ClusterSubscribeLinks {
  readonly #cluster: Cluster
  readonly #isSharded: boolean
  readonly #hooks: LinkHooks
  readonly #onMessage: (channel: string, message: string) => void
  readonly #nodeId: string
  readonly #isUp: Reachability | undefined
  readonly #listeners = new Listeners()
  readonly #links = new Map<string, SubscriberLink>()
  readonly #wanted = new Set<string>()
  /** Wanted channels whose subscription has not been answered on their owner's connection. */
  readonly #unsettled = new Set<string>()
  /** channel -> the link it is subscribed, or being subscribed, on. */
  readonly #placed = new Map<string, SubscriberLink>()
  readonly #slots = new SlotCache()
  readonly #refresher: Refresher
  /** The slot owners as of the last look at the slot table. */
  #owners: string[] = []
  /** Classic pub/sub: after its node failed, the next choice of node in the same order. */
  #classicSkip = 0
  #token = 0
  #isClosed = false

  constructor(
    cluster: Cluster,
    isSharded: boolean,
    nodeId: string,
    hooks: LinkHooks,
    onMessage: (channel: string, message: string) => void,
    isUp?: Reachability,
  ) {
    this.#cluster = cluster
    this.#isSharded = isSharded
    this.#nodeId = nodeId
    this.#isUp = isUp
    this.#hooks = hooks
    this.#onMessage = onMessage
    this.#refresher = new Refresher(cluster, () => this.#sync(), hooks.retrying, MAX_SUBSCRIBE_RETRY_MS)
    for (const event of ['ready', 'refresh']) this.#listeners.on(cluster, event, () => this.#sync())
    this.#sync()
  }

  setInterest(channel: string, isInterested: boolean): void {
    if (isInterested) {
      this.#wanted.add(channel)
      this.#unsettled.add(channel)
      this.#place(channel)
      return
    }
    this.#wanted.delete(channel)
    this.#unsettled.delete(channel)
    const link = this.#placed.get(channel)
    if (link === undefined) return
    this.#placed.delete(channel)
    link.confirmed.delete(channel)
    link.pending.delete(channel)
    if (link.isUsable) this.#unsubscribe(link, channel)
  }

  /** Every needed connection is usable and every wanted channel's subscription has been answered. */
  isHealthy(): boolean {
    if (this.#isClosed || this.#refresher.isPending || this.#unsettled.size > 0) return false
    const needed = this.#neededKeys()
    if (needed.length === 0) return false
    for (const key of needed) if (this.#links.get(key)?.isUsable !== true) return false
    for (const link of this.#links.values())
      if (link.pending.size > 0 || link.unsubscribing.size > 0) return false
    this.#refresher.settle()
    return true
  }

  usableCount(): number {
    let count = 0
    for (const link of this.#links.values()) if (link.isUsable) count++
    return count
  }

  close(): void {
    this.#isClosed = true
    this.#refresher.close()
    this.#listeners.clear()
    for (const link of [...this.#links.values()]) this.#dispose(link)
  }

  /** Brings the connections and subscriptions in line with the slot table. */
  #sync(): void {
    if (this.#isClosed) return
    this.#owners = slotOwners(this.#cluster)
    if (this.#owners.length === 0) {
      if (this.#cluster.status !== 'wait') this.#refresher.request()
      return
    }
    const needed = this.#neededKeys()
    for (const link of [...this.#links.values()]) {
      if (needed.includes(link.key)) continue
      // The node owns no slot any more (a failover, or its last slot moved): what it carried moves.
      if (link.confirmed.size > 0) this.#hooks.lost()
      this.#dispose(link)
    }
    for (const key of needed) if (!this.#links.has(key)) this.#open(key)
    for (const channel of this.#wanted) this.#place(channel)
    this.#hooks.changed()
  }

  #neededKeys(): string[] {
    if (this.#isSharded) return this.#owners
    // Classic pub/sub reaches every node through the cluster bus: one connection, kept while its node
    // owns slots, chosen again (the next in the same order) after its node failed.
    for (const link of this.#links.values()) if (this.#owners.includes(link.key)) return [link.key]
    const key = rendezvous(this.#nodeId, this.#owners, this.#classicSkip)
    return key === undefined ? [] : [key]
  }

  #keyOf(channel: string): string | undefined {
    if (!this.#isSharded) return this.#neededKeys()[0]
    return this.#cluster.slots[this.#slots.of(channel)]?.[0]
  }

  /** Subscribes `channel` on its owner's connection, unless it is subscribed (or being) there already. */
  #place(channel: string): void {
    if (this.#isClosed || !this.#wanted.has(channel)) return
    const key = this.#keyOf(channel)
    const link = key === undefined ? undefined : this.#links.get(key)
    const previous = this.#placed.get(channel)
    if (previous !== undefined && previous !== link) {
      // Its slot moved to another master: Redis unsubscribed it on the old one.
      if (previous.confirmed.has(channel)) this.#hooks.lost()
      previous.confirmed.delete(channel)
      previous.pending.delete(channel)
      this.#placed.delete(channel)
      this.#unsettled.add(channel)
    }
    if (link === undefined) {
      this.#refresher.request()
      return
    }
    this.#placed.set(channel, link)
    if (!link.isUsable || link.confirmed.has(channel) || link.pending.has(channel)) return
    this.#unsettled.add(channel)
    const token = ++this.#token
    link.pending.set(channel, token)
    const command = this.#isSharded ? link.redis.ssubscribe(channel) : link.redis.subscribe(channel)
    command.then(
      () => {
        if (link.pending.get(channel) !== token) return
        link.pending.delete(channel)
        if (this.#placed.get(channel) === link && this.#wanted.has(channel)) {
          link.confirmed.add(channel)
          this.#unsettled.delete(channel)
        }
        this.#hooks.changed()
      },
      (cause: unknown) => {
        if (link.pending.get(channel) !== token) return
        link.pending.delete(channel)
        if (this.#isClosed) return
        if (isTransient(cause)) {
          // A moved slot answers MOVED: read the slot table and place the channel again.
          this.#refresher.request()
        } else {
          this.#hooks.error(
            new EventwireError('ERR_CONNECTION', `subscribe to "${channel}" failed`, { cause }),
          )
        }
        this.#hooks.changed()
      },
    )
  }

  #unsubscribe(link: SubscriberLink, channel: string): void {
    const token = ++this.#token
    link.unsubscribing.add(token)
    const command = this.#isSharded ? link.redis.sunsubscribe(channel) : link.redis.unsubscribe(channel)
    command
      .catch((cause: unknown) => {
        if (this.#isClosed || isTransient(cause)) return
        this.#hooks.error(
          new EventwireError('ERR_CONNECTION', `unsubscribe from "${channel}" failed`, { cause }),
        )
      })
      .finally(() => {
        // A token the connection's loss cleared is not counted twice.
        if (link.unsubscribing.delete(token)) this.#hooks.changed()
      })
  }

  #open(key: string): void {
    const template = this.#cluster.nodes('all').find((node) => nodeKey(node) === key)
    if (template === undefined) {
      this.#refresher.request()
      return
    }
    const redis = template.duplicate({
      lazyConnect: false,
      readOnly: false,
      // Sharded: the node is dialled again at once and on (a restarted node comes back at its address),
      // until the slot table no longer has it as an owner. Classic: the target picks a node again itself.
      retryStrategy: this.#isSharded ? () => REDIAL_MS : () => null,
      reconnectOnError: () => false,
      autoResubscribe: false,
      autoResendUnfulfilledCommands: false,
      enableOfflineQueue: true,
    })
    const link: SubscriberLink = {
      key,
      redis,
      isUsable: false,
      confirmed: new Set(),
      pending: new Map(),
      unsubscribing: new Set(),
    }
    this.#links.set(key, link)
    this.#listeners.on(redis, 'ready', () => {
      if (this.#isSharded) this.#usable(link)
      else
        void waitForBus(redis, () => this.#isClosed || link.redis.status !== 'ready', this.#isUp).then(() =>
          this.#usable(link),
        )
    })
    this.#listeners.on(redis, 'close', () => (this.#isSharded ? this.#interrupted(link) : this.#broken(link)))
    this.#listeners.on(redis, 'end', () => this.#broken(link))
    this.#listeners.on(redis, this.#isSharded ? 'smessage' : 'message', (channel: string, message: string) =>
      this.#onMessage(channel, message),
    )
    // Redis moved a slot: it answered MOVED to a subscribe, or (ioredis 6) sent `sunsubscribe` for the
    // channels of a slot it no longer owns.
    this.#listeners.on(redis, 'moved', () => this.#moved(link))
    this.#listeners.on(redis, 'error', (error: Error) => {
      if (this.#isClosed) return
      // ioredis 5 takes the `sunsubscribe` Redis sends when a slot moves for the answer to a command it
      // did not send, and says so: what this connection has subscribed is unknown, so it is replaced.
      if (/Command queue state error/.test(error.message)) {
        this.#broken(link)
        return
      }
      this.#hooks.error(new EventwireError('ERR_CONNECTION', `redis: ${error.message}`, { cause: error }))
    })
  }

  #usable(link: SubscriberLink): void {
    if (this.#isClosed || this.#links.get(link.key) !== link || link.redis.status !== 'ready') return
    link.isUsable = true
    if (!this.#isSharded) this.#classicSkip = 0
    this.#sync()
  }

  /** The connection closed, or its state is unknown: everything on it is lost; connect again. */
  #broken(link: SubscriberLink): void {
    if (this.#isClosed || this.#links.get(link.key) !== link) return
    if (link.isUsable || link.confirmed.size > 0) this.#hooks.lost()
    if (!this.#isSharded) this.#classicSkip++
    this.#dispose(link)
    this.#refresher.request()
    this.#hooks.changed()
  }

  /**
   * A sharded connection closed and is dialling its node again: what it had subscribed is lost, and is
   * subscribed again when it is back (or on another owner, when the slot table says so).
   */
  #interrupted(link: SubscriberLink): void {
    if (this.#isClosed || this.#links.get(link.key) !== link) return
    if (link.isUsable || link.confirmed.size > 0) this.#hooks.lost()
    link.isUsable = false
    for (const channel of link.confirmed) this.#unsettled.add(channel)
    for (const channel of link.pending.keys()) this.#unsettled.add(channel)
    link.confirmed.clear()
    // ioredis does not resend (nor settle) what was in flight on a connection it dials again.
    link.pending.clear()
    link.unsubscribing.clear()
    this.#refresher.request()
    this.#hooks.changed()
  }

  /**
   * A slot of this connection moved. The subscriptions it lost are not named (and ioredis 5 leaves the
   * subscribe that got MOVED unanswered), so every channel on it is subscribed again once the slot table
   * has been read: on its new owner, or again here where Redis still had it.
   */
  #moved(link: SubscriberLink): void {
    if (this.#isClosed || this.#links.get(link.key) !== link) return
    if (link.confirmed.size > 0) this.#hooks.lost()
    for (const channel of link.confirmed) this.#unsettled.add(channel)
    for (const channel of link.pending.keys()) this.#unsettled.add(channel)
    link.confirmed.clear()
    link.pending.clear()
    this.#refresher.request()
    this.#hooks.changed()
  }

  #dispose(link: SubscriberLink): void {
    this.#listeners.off(link.redis)
    // A late error from a connection being dropped must not go unhandled.
    link.redis.on('error', () => {})
    link.redis.disconnect()
    link.isUsable = false
    if (this.#links.get(link.key) === link) this.#links.delete(link.key)
    for (const [channel, placed] of this.#placed) {
      if (placed !== link) continue
      this.#placed.delete(channel)
      if (this.#wanted.has(channel)) this.#unsettled.add(channel)
    }
  }
}
