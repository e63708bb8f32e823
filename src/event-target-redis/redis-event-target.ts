import { EventwireError } from '../core/errors.js'
import { encodeEvent, type FrameLimits, wireEventType } from '../core/frame.js'
import { eventHops, eventId } from '../core/hops.js'
import { NetworkTargetBase } from '../core/network-target.js'
import { readOptionsObject } from '../core/options.js'
import { createPeerReporter } from '../core/report.js'
import type { EventwireStats, NetworkEventTarget, Serializer, TypedEvent } from '../core/types.js'
import { type ClientListener, isCluster, type RedisClient, whenReady } from './client.js'
import { ClusterPublishLinks, ClusterSubscribeLinks, type LinkHooks } from './cluster.js'
import { RedisInterest } from './interest.js'
import { type RedisEventTargetOptions, readRedisOptions } from './options.js'
import { RedisPublisher } from './publisher.js'
import { RedisReceiver } from './receiver.js'
import { encodeKept, RedisRecovery } from './recovery.js'
import { SequenceTracker } from './sequence.js'
import { EchoFilter, encodeYogaMessage } from './yoga-format.js'

/**
 * The Redis target: a peer that reaches every other node on the same Redis through pub/sub. The work is
 * done by its parts (publishing, interest, receiving, sequence numbers, recovery with `history`, and on
 * a Cluster the connections in cluster.ts); this class wires them to each other and to the two clients, and owns the lifecycle:
 * `ready` and its timeout, the status reports around a loss and its recovery (with the gap), connection
 * errors reported once per cause, `flush()`, `close()` and `stats()`.
 */

/**
 * A Redis peer: the lifecycle surface of every network target. `close()` leaves clients it was given open,
 * and closes the ones it made from `url` or `redisOptions`.
 */
export type RedisEventTarget<TEvent extends TypedEvent = TypedEvent> = NetworkEventTarget<TEvent>

export function createRedisEventTarget<TEvent extends TypedEvent = TypedEvent>(
  options: RedisEventTargetOptions<TEvent>,
): RedisEventTarget<TEvent> {
  return new RedisTarget<TEvent>(options)
}

/** Distinct connection failures remembered as reported until the target connects again. */
const MAX_REMEMBERED_FAILURES = 100

class RedisTarget<TEvent extends TypedEvent>
  extends NetworkTargetBase<TEvent>
  implements RedisEventTarget<TEvent>
{
  readonly ready: Promise<void>
  readonly nodeId: string
  readonly #serializer: Serializer
  readonly #limits: FrameLimits
  readonly #publishClient: RedisClient
  readonly #subscribeClient: RedisClient
  readonly #prefix: string
  readonly #publisher: RedisPublisher
  readonly #interest: RedisInterest
  readonly #receiver: RedisReceiver
  readonly #sequences: SequenceTracker
  /** Set with `history`: kept types are appended and published by script, and recovered after an outage. */
  readonly #recovery: RedisRecovery | undefined
  readonly #inflight = new Set<Promise<unknown>>()
  readonly #clientListeners: Array<[RedisClient, string, ClientListener]> = []
  #disconnectedAt: number | undefined
  #isRecovering = false
  /** Resolved on every change that may let a flush (or `ready`) go on. */
  #progress: { promise: Promise<void>; resolve: () => void } | undefined
  /** Rejects with ERR_CLOSED on close(), so a flush waiting for a connection does not wait forever. */
  readonly #closing: Promise<never>
  #rejectClosing: (error: EventwireError) => void = () => {}
  #reconnectAttempt = 0
  /** The clients were made here from `url`/`redisOptions`: `close()` closes them. */
  readonly #ownsClients: boolean
  /** Set in the 'graphql-yoga' wire format: tells Redis's echo of our own publishes from others' messages. */
  readonly #echoes: EchoFilter | undefined
  #settleReady: { resolve: () => void; reject: (error: EventwireError) => void } | undefined
  #readyTimer: ReturnType<typeof setTimeout> | undefined
  /** Connection failures reported since the target was last connected: each cause once, not once per retry. */
  readonly #reportedFailures = new Set<string>()
  /** The last connection failure, named when `ready` times out. */
  #lastFailure: string | undefined

  constructor(options: RedisEventTargetOptions<TEvent>) {
    const opts = readOptionsObject(options, 'createRedisEventTarget')
    // What arrives is checked by default: any client of the server may publish on the channels.
    super(opts, true)
    // Reports sequence anomalies and unsigned messages at a bounded rate, one budget for both.
    const reportAnomaly = createPeerReporter(this.reportError)
    const settings = readRedisOptions(opts)
    this.#prefix = settings.prefix
    if (settings.wireFormat === 'graphql-yoga') this.#echoes = new EchoFilter()
    const readyTimeoutMs = settings.readyTimeoutMs
    this.#serializer = settings.serializer
    this.#limits = settings.limits
    this.nodeId = settings.nodeId
    this.#ownsClients = settings.ownsClients
    this.#publishClient = settings.publishClient
    this.#subscribeClient = settings.subscribeClient
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
    const isClosed = () => this.isClosed
    const track = (promise: Promise<unknown>) => this.#track(promise)
    const receive = (channel: string, message: string) => this.#receiver.receive(channel, message)

    // The parts first, then a Cluster's links: those may report a change while they are being made, and
    // every change reaches the publisher and the interest side.
    this.#recovery =
      settings.history === undefined
        ? undefined
        : new RedisRecovery(settings.history, {
            client: this.#publishClient,
            nodeId: this.nodeId,
            prefix: this.#prefix,
            isSharded: settings.isSharded,
            serializer: this.#serializer,
            reportError: this.reportError,
            reportStatus: (status) => this.reportStatus(status),
            counters: this.counters,
            isClosed,
            deliver: (type, frames) => this.#receiver.deliverFrames(type, frames),
          })
    this.#interest = new RedisInterest(this.#subscribeClient, this.#prefix, settings.isSharded, {
      registry: this.registry,
      reportError: this.reportError,
      isClosed,
      track,
    })
    this.#publisher = new RedisPublisher(
      {
        client: this.#publishClient,
        isSharded: settings.isSharded,
        offlineQueueSize: settings.offlineQueueSize,
        auth: settings.auth,
        echoes: this.#echoes,
        recovery: this.#recovery,
      },
      {
        counters: this.counters,
        reportError: this.reportError,
        isClosed,
        track,
        changed: () => this.#changed(),
        isListening: (channel) => this.#interest.isListening(channel),
      },
    )
    this.#sequences = new SequenceTracker(reportAnomaly)
    this.#receiver = new RedisReceiver(
      {
        nodeId: this.nodeId,
        prefix: this.#prefix,
        limits: this.#limits,
        serializer: this.#serializer,
        auth: settings.auth,
        echoes: this.#echoes,
        sequences: this.#sequences,
        recovery: this.#recovery,
      },
      {
        node: this,
        registry: this.registry,
        counters: this.counters,
        reportError: this.reportError,
        reportAnomaly,
        isClosed,
        checkReceived: this.checkReceived,
      },
    )

    let publishLinks: ClusterPublishLinks | undefined
    if (isCluster(this.#publishClient)) {
      publishLinks = new ClusterPublishLinks(this.#publishClient, settings.isSharded, hooks)
      this.#publisher.useClusterLinks(publishLinks)
    }
    let subscribeLinks: ClusterSubscribeLinks | undefined
    if (isCluster(this.#subscribeClient)) {
      subscribeLinks = new ClusterSubscribeLinks(
        this.#subscribeClient,
        settings.isSharded,
        this.nodeId,
        hooks,
        receive,
        // Classic pub/sub: a master the publish side cannot reach is down, and has no bus links to wait for.
        publishLinks?.isConnected,
      )
      this.#interest.useClusterLinks(subscribeLinks)
    }
    if (subscribeLinks === undefined) {
      this.#listen(this.#subscribeClient, settings.isSharded ? 'smessage' : 'message', receive)
      this.#listen(this.#subscribeClient, 'close', () => {
        this.#interest.clientLost()
        this.#lost()
      })
      this.#listen(this.#subscribeClient, 'reconnecting', (delayMs: number) => {
        if (this.isClosed) return
        this.reportStatus({
          type: 'reconnecting',
          attempt: ++this.#reconnectAttempt,
          delayMs: Number(delayMs) || 0,
        })
      })
      // Back (or there for the first time): interest held back goes out, every live type is subscribed
      // again, and after a loss the gap is reported once Redis has answered.
      this.#listen(this.#subscribeClient, 'ready', () => {
        this.#interest.clientReady()
        this.#changed()
      })
    }
    if (publishLinks === undefined) {
      // ioredis emits 'ready' on the tick after it resent the commands the broken connection left
      // unanswered and its own offline queue, so what was held here goes out after those.
      this.#listen(this.#publishClient, 'ready', () => this.#publisher.releaseHeld())
    }
    for (const client of new Set([this.#publishClient, this.#subscribeClient])) {
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
    for (const client of new Set([this.#publishClient, this.#subscribeClient])) {
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
    Promise.all([whenReady(this.#publishClient), whenReady(this.#subscribeClient)])
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
    if (!this.beginDispatch(event)) return false
    // Encode before any delivery: a detail that cannot be serialized reaches no one and throws here.
    const type = this.eventType(event.type)
    if (this.#echoes !== undefined) {
      this.#publisher.enqueue(this.#prefix + type, encodeYogaMessage(type, event.detail, this.#serializer))
      this.counters.delivered += this.registry.deliver(event)
      return !event.defaultPrevented
    }
    const seq = this.#sequences.next()
    if (this.#recovery?.isKept(type)) {
      const kept = encodeKept(
        type,
        this.nodeId,
        event.detail,
        this.#serializer,
        eventHops(event),
        seq,
        eventId(event),
      )
      this.#publisher.enqueue(this.#prefix + type, kept)
      this.#sequences.sent(seq)
      this.counters.delivered += this.registry.deliver(event)
      return !event.defaultPrevented
    }
    this.#publisher.enqueue(
      this.#prefix + type,
      encodeEvent(type, this.nodeId, event.detail, this.#serializer, eventHops(event), seq, eventId(event)),
    )
    this.#sequences.sent(seq)
    this.counters.delivered += this.registry.deliver(event)
    return !event.defaultPrevented
  }

  /**
   * Resolves once every publish and (un)subscribe issued so far has been answered by Redis. While a
   * connection it needs is down it waits for it; `close()` meanwhile rejects it with ERR_CLOSED.
   */
  async flush(): Promise<void> {
    if (this.isClosed) throw new EventwireError('ERR_CLOSED', 'the target is closed')
    this.#publisher.publishOutbox()
    while (!this.isClosed) {
      // Events held while their connection is down are published once it is ready again.
      if (this.#publisher.hasHeld) {
        this.#assertNotEnded()
        await this.#unlessClosed(
          this.#publisher.isCluster ? this.#nextChange() : whenReady(this.#publishClient),
        )
        this.#publisher.releaseHeld()
        continue
      }
      // Interest held back until the subscribe side is ready is part of what a flush waits for.
      if (!this.#interest.isHealthy()) {
        if (this.#interest.isCluster) {
          this.#assertNotEnded()
          await this.#unlessClosed(this.#nextChange())
        } else {
          await this.#unlessClosed(this.#interest.whenClientReady())
        }
        continue
      }
      if (this.#inflight.size === 0) break
      await Promise.allSettled([...this.#inflight])
      // A publish the cluster refused is held again, and goes out once its connection is usable.
      this.#publisher.publishOutbox()
    }
    while (this.#inflight.size > 0) await Promise.allSettled([...this.#inflight])
  }

  async close(): Promise<void> {
    if (this.isClosed) return
    // Flush what is in flight, but do not wait for a subscribe connection that may never come back.
    this.#publisher.publishOutbox()
    while (this.#inflight.size > 0) await Promise.allSettled([...this.#inflight])
    this.isClosed = true
    this.#rejectClosing(new EventwireError('ERR_CLOSED', 'the target closed while flush() waited for Redis'))
    const held = this.#publisher.discard()
    if (held > 0) {
      this.counters.dropped += held
      this.reportError(
        new EventwireError(
          'ERR_CLOSED',
          `closed while the publish connection was not ready: ${held} held events dropped`,
        ),
      )
    }
    const channels = this.registry.types().map((type) => this.#prefix + type)
    this.registry.clear()
    this.#receiver.clear()
    this.#recovery?.clear()
    this.#echoes?.clear()
    this.#settleReadyWith(new EventwireError('ERR_CLOSED', 'the target closed before it was ready'))
    this.#publisher.close()
    // The target's own connections to a Cluster's masters go with it; a caller's subscribe client is left
    // as we found it.
    const leaving = this.#interest.close(channels, this.#ownsClients)
    if (leaving !== undefined) await leaving
    for (const [client, event, listener] of this.#clientListeners.splice(0)) client.off(event, listener)
    if (this.#ownsClients) {
      // Made here, so closed here: every publish has been answered above, and nothing else uses them.
      // Without a listener, an error a closing client still emits would be printed as unhandled.
      for (const client of [this.#publishClient, this.#subscribeClient]) {
        client.on('error', () => {})
        client.disconnect()
      }
    }
    this.#progress?.resolve()
    this.reportStatus({ type: 'closed' })
  }

  stats(): EventwireStats {
    return {
      ...this.counters,
      connections: this.#publisher.usableCount() + this.#interest.usableCount(),
      subscriptions: this.registry.types().length,
    }
  }

  protected override interestChanged(type: string, isInterested: boolean): void {
    this.#interest.set(type, isInterested)
    if (this.#recovery === undefined) return
    if (isInterested) this.#recovery.listen(type)
    else this.#recovery.forget(type)
  }

  protected override eventType(type: unknown): string {
    return wireEventType(type, this.#limits)
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
    if (this.isClosed) return
    // Live events of kept types wait for their replay from now on (held also when lost again).
    this.#recovery?.hold()
    if (this.#disconnectedAt !== undefined) return
    this.#disconnectedAt = Date.now()
    this.reportStatus({ type: 'disconnected' })
  }

  /** Every connection the target uses is usable and every live type subscribed (on a Cluster, on its owner). */
  #isHealthy(): boolean {
    return this.#publisher.isHealthy() && this.#interest.isHealthy()
  }

  /** A connection came up, an answer came, a topology was read: held events, flushes and recovery may go on. */
  #changed(): void {
    if (this.isClosed) return
    this.#publisher.mayRelease()
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
    for (const client of [this.#publishClient, this.#subscribeClient]) {
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
        const recovery = this.#recovery
        if (recovery === undefined) {
          this.reportStatus({ type: 'gap', since, until: Date.now() })
          return
        }
        // Kept types report `recovered` or their own gap once replayed; the connection-level gap covers
        // the types without history, if any is listened to.
        recovery.recover(since)
        if (this.registry.types().some((type) => !recovery.isKept(type))) {
          this.reportStatus({ type: 'gap', since, until: Date.now() })
        }
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
}
