import type { Cluster, Redis, RedisOptions } from 'ioredis'
import { DEFAULTS } from '../core/defaults.js'
import { DeliveryPacer } from '../core/delivery-pacer.js'
import { EventwireError, invalidOption } from '../core/errors.js'
import {
  decodeFrames,
  encodeBatch,
  encodeEvent,
  type Frame,
  type FrameLimits,
  wireEventType,
} from '../core/frame.js'
import { eventHops, eventId, isFirstSight, withHops } from '../core/hops.js'
import { createNodeId } from '../core/link.js'
import { NetworkTargetBase } from '../core/network-target.js'
import { readLimits, readNonNegativeInteger, readOptionsObject, readSerializer } from '../core/options.js'
import { assertEvent } from '../core/registry.js'
import { createPeerReporter } from '../core/report.js'
import type {
  EventwireStats,
  NetworkEventTarget,
  NetworkEventTargetOptions,
  Serializer,
  TypedEvent,
} from '../core/types.js'
import { ClusterPublishLinks, ClusterSubscribeLinks, type LinkHooks } from './cluster.js'
import { type FrameAuth, type RedisAuthOptions, readAuth } from './frame-auth.js'
import { createOwnClients } from './own-clients.js'
import { EchoFilter, encodeYogaMessage, type RedisWireFormat } from './yoga-format.js'

/** An ioredis client: a single `Redis` connection or a `Cluster`. */
export type RedisClient = Redis | Cluster

export interface RedisEventTargetOptions extends NetworkEventTargetOptions {
  /**
   * Runs PUBLISH (or SPUBLISH); may be shared with the rest of the app. Give both clients, or `url` and/or
   * `redisOptions` instead. `close()` leaves clients given here open: they are yours.
   */
  publishClient?: RedisClient
  /**
   * Reserved for SUBSCRIBE (or SSUBSCRIBE): a subscribed connection can run nothing else. Give each target
   * its own, or distinct prefixes. @see publishClient
   */
  subscribeClient?: RedisClient
  /**
   * A `redis://` or `rediss://` URL, instead of the two clients: the target makes its own two connections
   * (with `redisOptions`, if given) and closes them on `close()`, so a process can exit after it.
   * Needs the ioredis package. For a Cluster, pass `Cluster` clients.
   */
  url?: string
  /**
   * ioredis options for the connections the target makes itself (with `url`, or alone: `host`, `port`,
   * `password`, `tls`…). Not with `publishClient`/`subscribeClient`.
   */
  redisOptions?: RedisOptions
  /**
   * `ready` rejects with `ERR_TIMEOUT` (naming the last connection error) if the target is not connected
   * after this long; the target keeps trying, and reports `connected` when it gets there. 0 waits as long
   * as the clients try.
   * @default 10_000
   */
  readyTimeoutMs?: number
  /**
   * What the messages on the channels look like. `'graphql-yoga'` is the format of
   * `@graphql-yoga/redis-event-target` (one message per event, the serialized detail alone, on the
   * channel `prefix + type`), so servers on it and servers on this target share channels during a
   * migration. It gives up what the frames carry: the sequence check (copies and late arrivals are
   * delivered), batching (one PUBLISH per event), `auth` and `sharded` (refused), the bridge hop count and
   * event identity; see docs/pubsub.md.
   * @default 'eventwire'
   */
  wireFormat?: RedisWireFormat
  /** Put in front of every event type to form the channel name. @default '' */
  prefix?: string
  /**
   * Use sharded pub/sub (SPUBLISH/SSUBSCRIBE, Redis 7): on a Cluster each channel lives on the shard of its
   * slot instead of being broadcast to every node.
   * @default false
   */
  sharded?: boolean
  /** Origin id of events dispatched here; Redis echoes our own publishes and this id filters them. @default random */
  nodeId?: string
  /** Message size, type length and batch limits. @see FrameLimits */
  limits?: Partial<FrameLimits>
  /**
   * Events kept while the publish connection is not ready (on a Cluster: the connection of the master a
   * channel publishes through), published in dispatch order once it is; past it the oldest are dropped and
   * counted in `stats().dropped`. 0 drops every event dispatched while the publish connection is down.
   * They are held here rather than in ioredis's offline queue, which lets a PUBLISH issued during the
   * reconnect handshake overtake the ones queued before it.
   * @default 10_000
   */
  offlineQueueSize?: number
  /**
   * Sign every published message with a shared key (HMAC-SHA-256) and drop, counted and reported as
   * `ERR_UNAUTHORIZED`, every received message that no key signed: a client of the Redis server without the
   * key can no longer inject or forge events. Every node on the channels must have it on. @default off
   */
  auth?: RedisAuthOptions
}

/**
 * A Redis peer: the lifecycle surface of every network target. `close()` leaves clients it was given open,
 * and closes the ones it made from `url` or `redisOptions`.
 */
export type RedisEventTarget<TEvent extends TypedEvent = TypedEvent> = NetworkEventTarget<TEvent>

export function createRedisEventTarget<TEvent extends TypedEvent = TypedEvent>(
  options: RedisEventTargetOptions,
): RedisEventTarget<TEvent> {
  return new RedisTarget<TEvent>(options)
}

/** Largest message published at once; a larger same-tick backlog on one channel is split. */
const MAX_BATCH_CHARS = 256 * 1024
/** Distinct connection failures remembered as reported until the target connects again. */
const MAX_REMEMBERED_FAILURES = 100
/** (origin, type) pairs whose last sequence number a receiver remembers; the oldest is forgotten past it. */
const MAX_TRACKED_SEQUENCES = 10_000
/**
 * Sequence numbers follow each sender's clock in µs (at least), so a late arrival is at most this far
 * behind the last one seen. A frame further behind is no late copy: the last one seen was forged or
 * replayed ahead, or the sender's clock went back; it is taken as new. So one forged frame silences an
 * origin on a type for at most this long (10 s).
 */
const SEQUENCE_WINDOW = 10_000_000
/** Origins whose sequence drops are counted one by one. */
const MAX_COUNTED_ORIGINS = 1_000

// Redis client events carry differently typed arguments per event name.
// biome-ignore lint/suspicious/noExplicitAny: the listener signature ioredis declares
type ClientListener = (...args: any[]) => void

/** A frame waiting for its channel's connection, in dispatch order per channel. */
interface HeldFrame {
  readonly channel: string
  readonly frame: string
  /** Published once already, on a Cluster, and refused for the cluster's state: it goes out again first. */
  readonly isRequeued: boolean
}

/** Publishes of one channel in flight on a Cluster, all on one connection. */
interface InFlight {
  readonly via: RedisClient
  count: number
  /** One of them failed and is held again: later frames wait until the rest have been answered. */
  hasFailed: boolean
}

class RedisTarget<TEvent extends TypedEvent>
  extends NetworkTargetBase<TEvent>
  implements RedisEventTarget<TEvent>
{
  readonly ready: Promise<void>
  readonly nodeId: string
  readonly #serializer: Serializer
  readonly #limits: FrameLimits
  readonly #publisher: RedisClient
  readonly #subscriber: RedisClient
  readonly #prefix: string
  readonly #isSharded: boolean
  /** The publish side on a Cluster: which master's connection each channel goes through. */
  readonly #publishLinks: ClusterPublishLinks | undefined
  /** The subscribe side on a Cluster: the target's own connections to the masters. */
  readonly #subscribeLinks: ClusterSubscribeLinks | undefined
  /** channel -> frames dispatched this tick, published together at the end of it */
  #outbox = new Map<string, string[]>()
  #isFlushScheduled = false
  /** Frames whose channel's connection was not ready, oldest first (those sent again lead). */
  #held: HeldFrame[] = []
  /** channel -> how many of its frames are held: while any is, its new frames are held behind them. */
  readonly #heldChannels = new Map<string, number>()
  /** A connection came up or an answer came: held frames may go out. */
  #mayRelease = false
  readonly #offlineQueueSize: number
  #isOverflowReported = false
  /** channel -> its publishes in flight, and on which connection (Cluster only). */
  readonly #publishing = new Map<string, InFlight>()
  readonly #inflight = new Set<Promise<unknown>>()
  readonly #clientListeners: Array<[RedisClient, string, ClientListener]> = []
  #disconnectedAt: number | undefined
  #isRecovering = false
  /** Resolved on every change that may let a flush (or `ready`) go on. */
  #progress: { promise: Promise<void>; resolve: () => void } | undefined
  /**
   * ioredis puts a connection in subscriber mode when SUBSCRIBE is queued, and its ready check (INFO)
   * then fails and drops the connection: interest waits until the subscribe client is ready.
   */
  #isSubscriberReady: boolean
  #whenSubscriberReady: Promise<void> | undefined
  /** Rejects with ERR_CLOSED on close(), so a flush waiting for a connection does not wait forever. */
  readonly #closing: Promise<never>
  #rejectClosing: (error: EventwireError) => void = () => {}
  /** Types subscribed on the current connection, so a removal while it is down can be sent later. */
  readonly #subscribed = new Set<string>()
  readonly #leaveWhenReady = new Set<string>()
  #reconnectAttempt = 0
  /**
   * The last sequence number sent. It starts from the wall clock in µs, so a node restarted with the same
   * `nodeId` continues above what it sent before, unless it had sent more events than µs had passed
   * (over a million a second on average).
   */
  #sequence = nowMicros()
  /** type -> origin -> the highest sequence number received from it. */
  readonly #lastSequence = new Map<string, Map<string, number>>()
  #trackedSequences = 0
  /** origin -> events dropped by the sequence check, for the reports. */
  readonly #sequenceDrops = new Map<string, number>()
  /** Reports sequence anomalies and unsigned messages at a bounded rate. */
  readonly #reportAnomaly: (error: EventwireError) => boolean
  readonly #auth: FrameAuth | undefined
  /** The clients were made here from `url`/`redisOptions`: `close()` closes them. */
  readonly #ownsClients: boolean
  /** Set in the 'graphql-yoga' wire format: tells Redis's echo of our own publishes from others' messages. */
  readonly #echoes: EchoFilter | undefined
  /**
   * Received messages to local listeners, in slices across tasks when a burst arrives at once: the
   * frames of a message from one index to another (or, in yoga's format, one event).
   */
  readonly #pacer = new DeliveryPacer<readonly Frame[] | Event, string>((received, type, from, to) => {
    if (Array.isArray(received)) this.#acceptFrames(received, type, from, to)
    else this.counters.delivered += this.registry.deliver(received as Event)
  })
  #settleReady: { resolve: () => void; reject: (error: EventwireError) => void } | undefined
  #readyTimer: ReturnType<typeof setTimeout> | undefined
  /** Connection failures reported since the target was last connected: each cause once, not once per retry. */
  readonly #reportedFailures = new Set<string>()
  /** The last connection failure, named when `ready` times out. */
  #lastFailure: string | undefined

  constructor(options: RedisEventTargetOptions) {
    const opts = readOptionsObject(options, 'createRedisEventTarget')
    super(opts)
    this.#reportAnomaly = createPeerReporter(this.reportError)
    this.#auth = readAuth(opts.auth)
    if (opts.prefix !== undefined && typeof opts.prefix !== 'string')
      invalidOption('prefix', 'a string', opts.prefix)
    this.#prefix = opts.prefix ?? ''
    if (opts.sharded !== undefined && typeof opts.sharded !== 'boolean')
      invalidOption('sharded', 'a boolean', opts.sharded)
    this.#isSharded = opts.sharded === true
    const wireFormat = opts.wireFormat ?? 'eventwire'
    if (wireFormat !== 'eventwire' && wireFormat !== 'graphql-yoga')
      invalidOption('wireFormat', "'eventwire' or 'graphql-yoga'", wireFormat)
    if (wireFormat === 'graphql-yoga') {
      // Yoga's messages have no room for a signature, and yoga's target uses classic pub/sub.
      if (this.#auth !== undefined)
        invalidOption(
          'auth',
          "unset with wireFormat 'graphql-yoga' (its messages carry no signature)",
          'keys',
        )
      if (this.#isSharded)
        invalidOption('sharded', "false with wireFormat 'graphql-yoga' (yoga uses classic pub/sub)", true)
      this.#echoes = new EchoFilter()
    }
    const readyTimeoutMs = readNonNegativeInteger(
      'readyTimeoutMs',
      opts.readyTimeoutMs,
      DEFAULTS.readyTimeoutMs,
    )
    this.#serializer = readSerializer(opts.serializer)
    this.#limits = readLimits(opts.limits)
    this.#offlineQueueSize = readNonNegativeInteger(
      'offlineQueueSize',
      opts.offlineQueueSize,
      DEFAULTS.offlineQueueSize,
    )
    if (opts.nodeId !== undefined && (typeof opts.nodeId !== 'string' || opts.nodeId.length === 0)) {
      invalidOption('nodeId', 'a non-empty string', opts.nodeId)
    }
    this.nodeId = opts.nodeId ?? createNodeId()
    this.#ownsClients = opts.url !== undefined || opts.redisOptions !== undefined
    if (this.#ownsClients) {
      for (const name of ['publishClient', 'subscribeClient'] as const) {
        if (opts[name] !== undefined)
          invalidOption(
            name,
            'unset when url or redisOptions is given (the target makes its own)',
            opts[name],
          )
      }
    }
    // Last, once every option is known good: connections made here must not be left open by a throw.
    const [publisher, subscriber] = this.#ownsClients
      ? createOwnClients(opts.url, opts.redisOptions)
      : [readClient('publishClient', opts.publishClient), readClient('subscribeClient', opts.subscribeClient)]
    this.#publisher = publisher
    this.#subscriber = subscriber
    if (this.#publisher === this.#subscriber) {
      invalidOption(
        'subscribeClient',
        'a different client than publishClient (a subscribed connection can run nothing else)',
        'the same client',
      )
    }
    this.#isSubscriberReady = this.#subscriber.status === 'ready'
    this.#closing = new Promise<never>((_resolve, reject) => {
      this.#rejectClosing = reject
    })
    this.#closing.catch(() => {})

    const hooks: LinkHooks = {
      lost: () => this.#lost(),
      changed: () => this.#changed(),
      error: (error) => this.#connectionFailed(error),
      retrying: (_attempt, delayMs) => {
        if (this.isClosed || this.#disconnectedAt === undefined) return
        this.reportStatus({ type: 'reconnecting', attempt: ++this.#reconnectAttempt, delayMs })
      },
    }

    if (isCluster(this.#publisher)) {
      this.#publishLinks = new ClusterPublishLinks(this.#publisher, this.#isSharded, hooks)
    }
    if (isCluster(this.#subscriber)) {
      this.#subscribeLinks = new ClusterSubscribeLinks(
        this.#subscriber,
        this.#isSharded,
        this.nodeId,
        hooks,
        (channel, message) => this.#receive(channel, message),
        // Classic pub/sub: a master the publish side cannot reach is down, and has no bus links to wait for.
        this.#publishLinks?.isConnected,
      )
    } else {
      this.#listen(
        this.#subscriber,
        this.#isSharded ? 'smessage' : 'message',
        (channel: string, message: string) => this.#receive(channel, message),
      )
      this.#listen(this.#subscriber, 'close', () => {
        this.#isSubscriberReady = false
        this.#lost()
      })
      this.#listen(this.#subscriber, 'reconnecting', (delayMs: number) => {
        if (this.isClosed) return
        this.reportStatus({
          type: 'reconnecting',
          attempt: ++this.#reconnectAttempt,
          delayMs: Number(delayMs) || 0,
        })
      })
      this.#listen(this.#subscriber, 'ready', () => this.#subscriberReady())
    }
    if (this.#publishLinks === undefined) {
      // ioredis emits 'ready' on the tick after it resent the commands the broken connection left
      // unanswered and its own offline queue, so what was held here goes out after those.
      this.#listen(this.#publisher, 'ready', () => {
        this.#mayRelease = true
        this.#publishOutbox()
      })
    }
    for (const client of new Set([this.#publisher, this.#subscriber])) {
      // ioredis emits an error for every failed attempt; each cause is reported once until connected.
      this.#listen(client, 'error', (error: Error) =>
        this.#connectionFailed(
          new EventwireError('ERR_CONNECTION', `redis: ${error.message}`, { cause: error }),
        ),
      )
      if (!isCluster(client)) continue
      this.#listen(client, 'node error', (error: Error, key: string) =>
        this.#connectionFailed(
          new EventwireError('ERR_CONNECTION', `redis ${key}: ${error.message}`, { cause: error }),
        ),
      )
      // A Cluster that gave up makes a waiting flush fail instead of waiting for ever.
      this.#listen(client, 'end', () => this.#changed())
    }

    this.reportStatus({ type: 'connecting' })
    // Interest waits for a ready subscribe client, so a lazy one (`lazyConnect`) must be told to connect.
    for (const client of new Set([this.#publisher, this.#subscriber])) {
      if (client.status === 'wait') {
        client.connect().catch((cause: unknown) => {
          const why = cause instanceof Error ? `: ${cause.message}` : ''
          this.#connectionFailed(
            new EventwireError('ERR_CONNECTION', `redis: could not connect${why}`, { cause }),
          )
        })
      }
    }
    this.ready = new Promise<void>((resolve, reject) => {
      this.#settleReady = { resolve, reject }
    })
    // `ready` may never be awaited; its rejection must not become an unhandled rejection.
    this.ready.catch(() => {})
    Promise.all([whenReady(this.#publisher), whenReady(this.#subscriber)])
      .then(async () => {
        // On a Cluster, every master's connection is made and usable before the first event goes out.
        while (!this.isClosed && !this.#isHealthy()) await this.#unlessClosed(this.#nextChange())
        await this.flush()
        if (this.isClosed) throw new EventwireError('ERR_CLOSED', 'the target is closed')
        this.#reportedFailures.clear()
        this.#lastFailure = undefined
        this.reportStatus({ type: 'connected' })
      })
      .then(
        () => this.#settleReadyWith(undefined),
        (error: EventwireError) => this.#settleReadyWith(error),
      )
    if (readyTimeoutMs > 0 && this.#settleReady !== undefined) {
      this.#readyTimer = setTimeout(() => this.#readyTimedOut(readyTimeoutMs), readyTimeoutMs)
      // The timer alone never keeps a process alive.
      ;(this.#readyTimer as { unref?: () => void }).unref?.()
    }
  }

  /** Delivers to local listeners synchronously and publishes to every other node through Redis. */
  dispatchEvent(event: TEvent): boolean {
    assertEvent(event)
    if (this.isClosed) return this.refuseClosed(event.type)
    this.counters.dispatched++
    // Encode before any delivery: a detail that cannot be serialized reaches no one and throws here.
    const type = this.eventType(event.type)
    if (this.#echoes !== undefined) {
      this.#enqueue(this.#prefix + type, encodeYogaMessage(type, event.detail, this.#serializer))
      this.counters.delivered += this.registry.deliver(event)
      return !event.defaultPrevented
    }
    // At least the clock in µs: a forged number ahead of it is overtaken within SEQUENCE_WINDOW.
    const seq = Math.max(this.#sequence + 1, nowMicros())
    this.#enqueue(
      this.#prefix + type,
      encodeEvent(type, this.nodeId, event.detail, this.#serializer, eventHops(event), seq, eventId(event)),
    )
    this.#sequence = seq
    this.counters.delivered += this.registry.deliver(event)
    return !event.defaultPrevented
  }

  /**
   * Resolves once every publish and (un)subscribe issued so far has been answered by Redis. While a
   * connection it needs is down it waits for it; `close()` meanwhile rejects it with ERR_CLOSED.
   */
  async flush(): Promise<void> {
    if (this.isClosed) throw new EventwireError('ERR_CLOSED', 'the target is closed')
    this.#publishOutbox()
    while (!this.isClosed) {
      // Events held while their connection is down are published once it is ready again.
      if (this.#held.length > 0) {
        this.#assertNotEnded()
        await this.#unlessClosed(
          this.#publishLinks === undefined ? whenReady(this.#publisher) : this.#nextChange(),
        )
        this.#mayRelease = true
        this.#publishOutbox()
        continue
      }
      // Interest held back until the subscribe side is ready is part of what a flush waits for.
      if (this.#subscribeLinks !== undefined) {
        if (!this.#subscribeLinks.isHealthy()) {
          this.#assertNotEnded()
          await this.#unlessClosed(this.#nextChange())
          continue
        }
      } else if (!this.#isSubscriberReady) {
        this.#whenSubscriberReady ??= whenReady(this.#subscriber).finally(() => {
          this.#whenSubscriberReady = undefined
        })
        await this.#unlessClosed(this.#whenSubscriberReady)
        continue
      }
      if (this.#inflight.size === 0) break
      await Promise.allSettled([...this.#inflight])
      // A publish the cluster refused is held again, and goes out once its connection is usable.
      this.#publishOutbox()
    }
    while (this.#inflight.size > 0) await Promise.allSettled([...this.#inflight])
  }

  async close(): Promise<void> {
    if (this.isClosed) return
    // Flush what is in flight, but do not wait for a subscribe connection that may never come back.
    this.#publishOutbox()
    while (this.#inflight.size > 0) await Promise.allSettled([...this.#inflight])
    this.isClosed = true
    this.#rejectClosing(new EventwireError('ERR_CLOSED', 'the target closed while flush() waited for Redis'))
    const held =
      this.#held.length + [...this.#outbox.values()].reduce((sum, frames) => sum + frames.length, 0)
    if (held > 0) {
      this.counters.dropped += held
      this.reportError(
        new EventwireError(
          'ERR_CLOSED',
          `closed while the publish connection was not ready: ${held} held events dropped`,
        ),
      )
      this.#held = []
      this.#heldChannels.clear()
      this.#outbox = new Map()
    }
    const channels = this.registry.types().map((type) => this.#prefix + type)
    this.registry.clear()
    this.#pacer.clear()
    this.#echoes?.clear()
    this.#settleReadyWith(new EventwireError('ERR_CLOSED', 'the target closed before it was ready'))
    this.#publishLinks?.close()
    // The target's own connections to a Cluster's masters go with it.
    this.#subscribeLinks?.close()
    if (
      !this.#ownsClients &&
      this.#subscribeLinks === undefined &&
      channels.length > 0 &&
      this.#subscriber.status === 'ready'
    ) {
      // Leave the caller's subscribe client as we found it.
      await (this.#isSharded
        ? this.#subscriber.sunsubscribe(...channels)
        : this.#subscriber.unsubscribe(...channels)
      ).catch(() => {})
    }
    for (const [client, event, listener] of this.#clientListeners.splice(0)) client.off(event, listener)
    if (this.#ownsClients) {
      // Made here, so closed here: every publish has been answered above, and nothing else uses them.
      // Without a listener, an error a closing client still emits would be printed as unhandled.
      for (const client of [this.#publisher, this.#subscriber]) {
        client.on('error', () => {})
        client.disconnect()
      }
    }
    this.#progress?.resolve()
    this.reportStatus({ type: 'closed' })
  }

  stats(): EventwireStats {
    const publishing = this.#publishLinks?.usableCount() ?? (this.#publisher.status === 'ready' ? 1 : 0)
    const subscribing = this.#subscribeLinks?.usableCount() ?? (this.#subscriber.status === 'ready' ? 1 : 0)
    return {
      ...this.counters,
      connections: publishing + subscribing,
      subscriptions: this.registry.types().length,
    }
  }

  // --- publishing ---

  #enqueue(channel: string, frame: string): void {
    appendFrame(this.#outbox, channel, frame)
    this.#schedulePublish()
  }

  #schedulePublish(): void {
    if (!this.#isFlushScheduled) {
      this.#isFlushScheduled = true
      queueMicrotask(() => this.#publishOutbox())
    }
  }

  /**
   * One PUBLISH per channel per tick, carrying a batch frame when several events share it. While a
   * channel's connection is not ready its frames are held instead, and the held ones go first once it is.
   */
  #publishOutbox(): void {
    this.#isFlushScheduled = false
    if (this.isClosed) return
    if (this.#held.length > 0 && (this.#mayRelease || this.#publishLinks === undefined)) this.#release()
    if (this.#outbox.size === 0) return
    const outbox = this.#outbox
    this.#outbox = new Map()
    for (const [channel, frames] of outbox) {
      const via = this.#heldChannels.has(channel) ? undefined : this.#route(channel)
      if (via === undefined) for (const frame of frames) this.#hold({ channel, frame, isRequeued: false })
      else this.#send(via, channel, frames)
    }
    this.#trimHeld()
  }

  /** Publishes the held frames whose channel's connection is usable now, in order. */
  #release(): void {
    this.#mayRelease = false
    if (this.#publishLinks === undefined && this.#publisher.status !== 'ready') return
    const held = this.#held
    this.#held = []
    this.#heldChannels.clear()
    const routes = new Map<string, RedisClient | null>()
    const ready = new Map<string, string[]>()
    for (const item of held) {
      let via = routes.get(item.channel)
      if (via === undefined) {
        via = this.#route(item.channel) ?? null
        routes.set(item.channel, via)
      }
      if (via === null) this.#hold(item)
      else appendFrame(ready, item.channel, item.frame)
    }
    for (const [channel, frames] of ready) this.#send(routes.get(channel)!, channel, frames)
    if (this.#held.length === 0) this.#isOverflowReported = false
  }

  /**
   * The connection `channel` publishes through now, or undefined while its frames must be held: on a
   * Cluster, also while earlier frames of the channel are in flight on another connection, or one of them
   * failed, so a frame sent again can never fall behind a later one.
   */
  #route(channel: string): RedisClient | undefined {
    if (this.#publishLinks === undefined)
      return this.#publisher.status === 'ready' ? this.#publisher : undefined
    const via = this.#publishLinks.route(channel)
    if (via === undefined) return undefined
    const inFlight = this.#publishing.get(channel)
    if (inFlight !== undefined && (inFlight.via !== via || inFlight.hasFailed)) return undefined
    return via
  }

  #send(via: RedisClient, channel: string, frames: string[]): void {
    if (this.#echoes !== undefined) {
      // Yoga's format has no batch: one message per event.
      for (const frame of frames) this.#publish(via, channel, [frame])
      return
    }
    let start = 0
    while (start < frames.length) {
      let end = start
      let chars = 0
      while (end < frames.length && (end === start || chars + frames[end]!.length <= MAX_BATCH_CHARS)) {
        chars += frames[end]!.length
        end++
      }
      this.#publish(via, channel, end - start === frames.length ? frames : frames.slice(start, end))
      start = end
    }
  }

  #hold(item: HeldFrame): void {
    this.#held.push(item)
    this.#heldChannels.set(item.channel, (this.#heldChannels.get(item.channel) ?? 0) + 1)
  }

  /** Puts frames the cluster refused back in front of the channel's held frames, after those sent before them. */
  #requeue(channel: string, frames: string[]): void {
    let at = 0
    while (at < this.#held.length && this.#held[at]!.isRequeued) at++
    this.#held.splice(at, 0, ...frames.map((frame) => ({ channel, frame, isRequeued: true })))
    this.#heldChannels.set(channel, (this.#heldChannels.get(channel) ?? 0) + frames.length)
    this.#trimHeld()
  }

  /** Drops the oldest held frames past `offlineQueueSize`. */
  #trimHeld(): void {
    const excess = this.#held.length - this.#offlineQueueSize
    if (excess <= 0) return
    for (const { channel } of this.#held.splice(0, excess)) {
      const count = (this.#heldChannels.get(channel) ?? 1) - 1
      if (count > 0) this.#heldChannels.set(channel, count)
      else this.#heldChannels.delete(channel)
    }
    this.counters.dropped += excess
    if (this.#isOverflowReported || this.isClosed) return
    // Once per outage: the counter tells how many.
    this.#isOverflowReported = true
    this.reportError(
      new EventwireError(
        'ERR_OVERFLOW',
        `the publish connection is not ready and ${this.#offlineQueueSize} events are held: dropping the oldest`,
      ),
    )
  }

  #publish(via: RedisClient, channel: string, frames: string[]): void {
    const events = frames.length
    const batch = events === 1 ? frames[0]! : encodeBatch(frames)
    const message = this.#auth === undefined ? batch : this.#auth.sign(batch)
    // Redis will echo it to us if we listen: remember it, to tell the echo from another node's message.
    if (this.#echoes !== undefined && this.#isListening(channel)) this.#echoes.expect(channel, message)
    const publishing = this.#isSharded ? via.spublish(channel, message) : via.publish(channel, message)
    const links = this.#publishLinks
    if (links !== undefined) {
      const inFlight = this.#publishing.get(channel)
      if (inFlight === undefined) this.#publishing.set(channel, { via, count: 1, hasFailed: false })
      else inFlight.count++
    }
    this.#track(
      publishing.then(
        () => {
          this.counters.sent += events
          this.#settled(channel)
        },
        (cause: unknown) => {
          if (links !== undefined && !this.isClosed && links.failed(channel, cause)) {
            // A connection that closed or a slot that moved: publish them again, in order, once the
            // channel's connection is usable (a copy of one that did go out is dropped by the receivers).
            const inFlight = this.#publishing.get(channel)
            if (inFlight !== undefined) inFlight.hasFailed = true
            this.#requeue(channel, frames)
          } else {
            this.counters.dropped += events
            if (!this.isClosed)
              this.reportError(
                new EventwireError('ERR_CONNECTION', `publish to "${channel}" failed`, { cause }),
              )
          }
          this.#settled(channel)
        },
      ),
    )
  }

  /** A publish of `channel` was answered: held frames waiting for the in-flight ones may go. */
  #settled(channel: string): void {
    const inFlight = this.#publishing.get(channel)
    if (inFlight === undefined || --inFlight.count > 0) return
    this.#publishing.delete(channel)
    if (this.#heldChannels.has(channel)) this.#changed()
  }

  // --- subscribing ---

  protected override interestChanged(type: string, isInterested: boolean): void {
    if (this.#subscribeLinks !== undefined) {
      this.#subscribeLinks.setInterest(this.#prefix + type, isInterested)
      return
    }
    this.#setInterest(type, isInterested)
  }

  #setInterest(type: string, isInterested: boolean): void {
    if (this.#isSubscriberReady) {
      this.#sendInterest(type, isInterested)
      return
    }
    // Held back until ready: a new type is subscribed from the registry then; a type that is gone is
    // unsubscribed then if the connection had it.
    if (isInterested) this.#leaveWhenReady.delete(type)
    else if (this.#subscribed.has(type)) this.#leaveWhenReady.add(type)
  }

  #sendInterest(type: string, isInterested: boolean): void {
    if (isInterested) this.#subscribed.add(type)
    else this.#subscribed.delete(type)
    const channel = this.#prefix + type
    const command = isInterested
      ? this.#isSharded
        ? this.#subscriber.ssubscribe(channel)
        : this.#subscriber.subscribe(channel)
      : this.#isSharded
        ? this.#subscriber.sunsubscribe(channel)
        : this.#subscriber.unsubscribe(channel)
    this.#track(
      command.catch((cause: unknown) => {
        if (this.isClosed) return
        const verb = isInterested ? 'subscribe to' : 'unsubscribe from'
        this.reportError(
          new EventwireError('ERR_CONNECTION', `${verb} "${channel}" failed`, { cause, eventType: type }),
        )
      }),
    )
  }

  /** True when this node's subscription to `channel` is in place, so Redis echoes what we publish there. */
  #isListening(channel: string): boolean {
    const isSubscribed = this.#subscribeLinks?.isHealthy() ?? this.#isSubscriberReady
    return isSubscribed && this.registry.has(channel.slice(this.#prefix.length))
  }

  #receive(channel: string, message: string): void {
    if (this.isClosed || !channel.startsWith(this.#prefix)) return
    const type = channel.slice(this.#prefix.length)
    // A message may still arrive for a type we just left, or for a channel of someone sharing the client.
    if (!this.registry.has(type)) return
    if (this.#echoes !== undefined) {
      this.#receiveYoga(channel, type, message)
      return
    }
    let frames = message
    if (this.#auth !== undefined) {
      const verified = this.#auth.verify(message)
      if (verified === undefined) {
        this.counters.dropped++
        this.#reportAnomaly(
          new EventwireError('ERR_UNAUTHORIZED', `on "${channel}": a message no key signed was dropped`, {
            eventType: type,
          }),
        )
        return
      }
      frames = verified
    }
    const result = decodeFrames(frames, this.#limits, this.#serializer)
    if (!result.ok) {
      this.counters.dropped++
      this.reportError(
        new EventwireError(result.error.code, `on "${channel}": ${result.error.message}`, {
          cause: result.error.cause,
          eventType: type,
        }),
      )
      return
    }
    // Delivered now, as many as this task's slice has room for; the rest follow in later tasks.
    const received = result.frames
    const now = this.#pacer.admit(received.length)
    if (now > 0) this.#acceptFrames(received, type, 0, now)
    this.#pacer.push(received, type, now, received.length)
  }

  /** Checks and delivers frames `from` to `to` of a message received on the channel of `type`. */
  #acceptFrames(frames: readonly Frame[], type: string, from: number, to: number): void {
    for (let index = from; index < to; index++) {
      const frame = frames[index]!
      if (frame.kind !== 'event' || frame.type !== type) {
        const channel = this.#prefix + type
        this.counters.dropped++
        this.reportError(
          new EventwireError(
            'ERR_FRAME_MALFORMED',
            `on "${channel}": expected event frames of type "${type}"`,
            {
              eventType: type,
            },
          ),
        )
        continue
      }
      // Redis echoes our own publishes; they were delivered locally at dispatch.
      if (frame.origin === this.nodeId) continue
      if (frame.seq !== undefined && !this.#isNewer(frame.origin, type, frame.seq)) {
        // A copy (ioredis resent a PUBLISH whose answer was lost) or a late arrival: delivering it would
        // break at-most-once or per-dispatcher order.
        this.counters.dropped++
        this.#sequenceDropped(frame.origin, type)
        continue
      }
      // A bridged event that reached this node by another path already: deliver it once.
      if (!isFirstSight(this, frame.id)) continue
      this.counters.received++
      this.counters.delivered += this.registry.deliver(
        withHops(new CustomEvent(type, { detail: frame.detail }), frame.hops, frame.id),
      )
    }
  }

  /** A message in yoga's format: the detail alone, `''` for none. Our own, echoed by Redis, is skipped. */
  #receiveYoga(channel: string, type: string, message: string): void {
    if (this.#echoes!.isEcho(channel, message)) return
    if (message.length > this.#limits.maxFrameBytes) {
      this.counters.dropped++
      this.reportError(
        new EventwireError(
          'ERR_FRAME_TOO_LARGE',
          `on "${channel}": message of ${message.length} bytes exceeds maxFrameBytes (${this.#limits.maxFrameBytes})`,
          { eventType: type },
        ),
      )
      return
    }
    let detail: unknown
    try {
      detail = message === '' ? null : this.#serializer.parse(message)
    } catch (cause) {
      this.counters.dropped++
      this.reportError(
        new EventwireError('ERR_SERIALIZE', `on "${channel}": the message cannot be parsed`, {
          cause,
          eventType: type,
        }),
      )
      return
    }
    this.counters.received++
    const event = new CustomEvent(type, { detail })
    if (this.#pacer.admit(1) === 1) this.counters.delivered += this.registry.deliver(event)
    else this.#pacer.push(event, type, 0, 1)
  }

  /**
   * Records `seq` as the latest from `origin` on `type`; false when it is not above the last one. Past
   * MAX_TRACKED_SEQUENCES pairs, the type tracked longest is forgotten: its next event is taken as new,
   * which costs only the protection, never an event.
   */
  #isNewer(origin: string, type: string, seq: number): boolean {
    let byOrigin = this.#lastSequence.get(type)
    if (byOrigin === undefined) {
      byOrigin = new Map()
      this.#lastSequence.set(type, byOrigin)
    }
    const last = byOrigin.get(origin)
    if (last !== undefined && seq <= last) {
      if (last - seq < SEQUENCE_WINDOW) return false
      this.#reportAnomaly(
        new EventwireError(
          'ERR_SEQUENCE',
          `on "${type}": an event from ${origin} is ${Math.round((last - seq) / 1e6)} s behind the last one seen; taken as new (the last was forged or replayed, or the sender's clock went back)`,
          { eventType: type },
        ),
      )
    }
    byOrigin.set(origin, seq)
    if (last === undefined && ++this.#trackedSequences > MAX_TRACKED_SEQUENCES) this.#forgetOldestType()
    return true
  }

  /** Counts a sequence drop by origin and reports it, at a bounded rate. */
  #sequenceDropped(origin: string, type: string): void {
    const count = (this.#sequenceDrops.get(origin) ?? 0) + 1
    if (count === 1 && this.#sequenceDrops.size >= MAX_COUNTED_ORIGINS) this.#sequenceDrops.clear()
    this.#sequenceDrops.set(origin, count)
    this.#reportAnomaly(
      new EventwireError(
        'ERR_SEQUENCE',
        `on "${type}": dropped an event from ${origin} as a copy or a late arrival (${count} from it so far)`,
        { eventType: type },
      ),
    )
  }

  #forgetOldestType(): void {
    const [type, byOrigin] = this.#lastSequence.entries().next().value as [string, Map<string, number>]
    this.#lastSequence.delete(type)
    this.#trackedSequences -= byOrigin.size
  }

  // --- connection lifecycle ---

  /** Resolves `ready`, or rejects it with `error`, once; later calls do nothing. */
  #settleReadyWith(error: EventwireError | undefined): void {
    const settle = this.#settleReady
    if (settle === undefined) return
    this.#settleReady = undefined
    if (this.#readyTimer !== undefined) clearTimeout(this.#readyTimer)
    this.#readyTimer = undefined
    if (error === undefined) settle.resolve()
    else settle.reject(error)
  }

  /** `ready` has waited `readyTimeoutMs`: reject it, naming what went wrong, and keep trying. */
  #readyTimedOut(timeoutMs: number): void {
    this.#readyTimer = undefined
    if (this.#settleReady === undefined || this.isClosed) return
    const last = this.#lastFailure === undefined ? '' : `: ${this.#lastFailure}`
    const error = new EventwireError('ERR_TIMEOUT', `redis: not connected within ${timeoutMs} ms${last}`)
    this.#settleReadyWith(error)
    this.reportError(error)
  }

  /**
   * Reports a connection failure once per cause until the target is connected again: a retry loop against
   * a server that is down is one report, not one per attempt.
   */
  #connectionFailed(error: EventwireError): void {
    if (this.isClosed) return
    const failure = `${error.code}: ${error.message}`
    this.#lastFailure = failure
    if (this.#reportedFailures.has(failure)) return
    if (this.#reportedFailures.size >= MAX_REMEMBERED_FAILURES) this.#reportedFailures.clear()
    this.#reportedFailures.add(failure)
    this.reportError(error)
  }

  #lost(): void {
    // What was published meanwhile may never be echoed.
    this.#echoes?.clear()
    if (this.isClosed || this.#disconnectedAt !== undefined) return
    this.#disconnectedAt = Date.now()
    this.reportStatus({ type: 'disconnected' })
  }

  /**
   * The subscribe connection is ready (first time or back): send the interest held back, subscribe every
   * live type again, and after a loss report the gap once Redis has answered.
   */
  #subscriberReady(): void {
    this.#isSubscriberReady = true
    if (this.isClosed) return
    for (const type of this.#leaveWhenReady) if (!this.registry.has(type)) this.#sendInterest(type, false)
    this.#leaveWhenReady.clear()
    for (const type of this.registry.types()) this.#sendInterest(type, true)
    this.#changed()
  }

  /** Every connection the target uses is usable and every live type subscribed (on a Cluster, on its owner). */
  #isHealthy(): boolean {
    const isPublishing = this.#publishLinks?.isHealthy() ?? true
    const isSubscribing = this.#subscribeLinks?.isHealthy() ?? this.#isSubscriberReady
    return isPublishing && isSubscribing
  }

  /** A connection came up, an answer came, a topology was read: held events, flushes and recovery may go on. */
  #changed(): void {
    if (this.isClosed) return
    this.#mayRelease = true
    if (this.#held.length > 0) this.#schedulePublish()
    const progress = this.#progress
    this.#progress = undefined
    progress?.resolve()
    this.#checkRecovered()
  }

  #nextChange(): Promise<void> {
    if (this.#progress === undefined) {
      let resolve: () => void = () => {}
      const promise = new Promise<void>((done) => {
        resolve = done
      })
      this.#progress = { promise, resolve }
    }
    return this.#progress.promise
  }

  /** A flush cannot go on through a client that has ended (quit or gave up): it fails instead of waiting. */
  #assertNotEnded(): void {
    for (const client of [this.#publisher, this.#subscriber]) {
      if (isCluster(client) && client.status === 'end')
        throw new EventwireError('ERR_CONNECTION', 'the redis client ended before it was ready')
    }
  }

  /**
   * After a loss, once everything is usable again and every live type has been subscribed again and
   * answered, and what was held has been published: `connected`, then the gap since the loss.
   */
  #checkRecovered(): void {
    if (this.isClosed || this.#disconnectedAt === undefined || this.#isRecovering || !this.#isHealthy())
      return
    const since = this.#disconnectedAt
    this.#isRecovering = true
    void this.flush().then(
      () => {
        this.#isRecovering = false
        if (this.isClosed || this.#disconnectedAt !== since) return
        // Lost again meanwhile: the next change looks again.
        if (!this.#isHealthy()) return
        this.#disconnectedAt = undefined
        this.#reconnectAttempt = 0
        this.counters.reconnects++
        this.#reportedFailures.clear()
        this.#lastFailure = undefined
        this.reportStatus({ type: 'connected' })
        this.reportStatus({ type: 'gap', since, until: Date.now() })
      },
      () => {
        this.#isRecovering = false
      },
    )
  }

  /** Waits for `promise`, or rejects with ERR_CLOSED once the target closes; a late rejection is handled. */
  #unlessClosed<T>(promise: Promise<T>): Promise<T> {
    promise.catch(() => {})
    return Promise.race([promise, this.#closing])
  }

  #track(promise: Promise<unknown>): void {
    this.#inflight.add(promise)
    const settle = () => this.#inflight.delete(promise)
    promise.then(settle, settle)
  }

  #listen(client: RedisClient, event: string, listener: ClientListener): void {
    client.on(event, listener)
    this.#clientListeners.push([client, event, listener])
  }

  protected override eventType(type: unknown): string {
    return wireEventType(type, this.#limits)
  }
}

function isCluster(client: RedisClient): client is Cluster {
  return client.isCluster === true
}

function appendFrame(outbox: Map<string, string[]>, channel: string, frame: string): void {
  const frames = outbox.get(channel)
  if (frames === undefined) outbox.set(channel, [frame])
  else frames.push(frame)
}

function readClient(name: string, client: unknown): RedisClient {
  const candidate = client as Partial<Redis> | undefined
  if (
    typeof candidate !== 'object' ||
    candidate === null ||
    typeof candidate.publish !== 'function' ||
    typeof candidate.subscribe !== 'function' ||
    typeof candidate.on !== 'function'
  ) {
    invalidOption(name, 'an ioredis Redis or Cluster client (or give url or redisOptions instead)', client)
  }
  return client as RedisClient
}

function whenReady(client: RedisClient): Promise<void> {
  if (client.status === 'ready') return Promise.resolve()
  return new Promise((resolve, reject) => {
    const onReady = () => {
      client.off('end', onEnd)
      resolve()
    }
    const onEnd = () => {
      client.off('ready', onReady)
      reject(new EventwireError('ERR_CONNECTION', 'the redis client ended before it was ready'))
    }
    client.once('ready', onReady)
    client.once('end', onEnd)
  })
}

/** Wall-clock time in µs, monotonic within the process. */
function nowMicros(): number {
  return Math.floor((performance.timeOrigin + performance.now()) * 1000)
}
