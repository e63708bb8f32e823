import { EventwireError } from '../core/errors.js'
import { encodeBatch } from '../core/frame.js'
import { forEachBatch } from '../core/link-writer.js'
import type { ErrorSink } from '../core/report.js'
import type { EventwireStats } from '../core/types.js'
import type { RedisClient } from './client.js'
import type { ClusterPublishLinks } from './cluster.js'
import type { FrameAuth } from './frame-auth.js'
import type { KeptFrame, RedisRecovery } from './recovery.js'
import type { EchoFilter } from './yoga-format.js'

/**
 * The outbound side of the Redis target: frames in, PUBLISH (or SPUBLISH) out. It exists because Redis
 * pub/sub gives the target none of what a core link writer relies on: a publish goes through a client
 * that may not be ready, ioredis lets a PUBLISH issued during its reconnect handshake overtake the ones
 * queued before it, and on a Cluster each channel has its own connection, which can refuse a publish for
 * the cluster's state. So, per channel and in dispatch order:
 *
 * - the frames of one tick leave as one PUBLISH (a batch frame), cut as a link writer cuts its batches
 *   (`forEachBatch`);
 * - while the channel's connection is not ready they are held (at most `offlineQueueSize`, the oldest
 *   dropped past it) and published first once it is;
 * - a publish the cluster refused goes back in front of the channel's held frames, and no later frame of
 *   the channel leaves while an earlier one is in flight on another connection;
 * - a type with `history` goes out through the same path, as one script per batch instead of a PUBLISH
 *   (recovery.ts), so holding, order and resending apply to it unchanged.
 */

/** What the publisher shares with its target. */
export interface PublisherHost {
  readonly counters: EventwireStats
  readonly reportError: ErrorSink
  isClosed(): boolean
  /** Makes `promise` part of what `flush()` waits for. */
  track(promise: Promise<unknown>): void
  /** Held frames may go out now that publishes were answered: tells the rest of the target too. */
  changed(): void
  /** True when Redis will echo to this node what it publishes on `channel` (yoga's format only). */
  isListening(channel: string): boolean
}

export interface PublisherOptions {
  readonly client: RedisClient
  readonly isSharded: boolean
  readonly offlineQueueSize: number
  readonly auth: FrameAuth | undefined
  /** Set in the 'graphql-yoga' wire format: one message per event, each remembered to tell its echo. */
  readonly echoes: EchoFilter | undefined
  /** Set with `history`: the frames of kept types are appended and published by one script. */
  readonly recovery: RedisRecovery | undefined
}

/** A frame as text, or an event of a kept type whose frame the script completes with its position. */
export type OutgoingFrame = string | KeptFrame

/** A frame waiting for its channel's connection, in dispatch order per channel. */
interface HeldFrame {
  readonly channel: string
  readonly frame: OutgoingFrame
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

export class RedisPublisher {
  readonly #host: PublisherHost
  readonly #client: RedisClient
  /** On a Cluster: which master's connection each channel goes through (see `useClusterLinks`). */
  #links: ClusterPublishLinks | undefined
  readonly #isSharded: boolean
  readonly #offlineQueueSize: number
  readonly #auth: FrameAuth | undefined
  readonly #echoes: EchoFilter | undefined
  readonly #recovery: RedisRecovery | undefined
  /** channel -> frames dispatched this tick, published together at the end of it */
  #outbox = new Map<string, OutgoingFrame[]>()
  #isFlushScheduled = false
  /** Frames whose channel's connection was not ready, oldest first (those sent again lead). */
  #held: HeldFrame[] = []
  /** channel -> how many of its frames are held: while any is, its new frames are held behind them. */
  readonly #heldChannels = new Map<string, number>()
  /** A connection came up or an answer came: held frames may go out. */
  #mayRelease = false
  #isOverflowReported = false
  /** channel -> its publishes in flight, and on which connection (Cluster only). */
  readonly #publishing = new Map<string, InFlight>()

  constructor(options: PublisherOptions, host: PublisherHost) {
    this.#host = host
    this.#client = options.client
    this.#isSharded = options.isSharded
    this.#offlineQueueSize = options.offlineQueueSize
    this.#auth = options.auth
    this.#echoes = options.echoes
    this.#recovery = options.recovery
  }

  /**
   * On a Cluster: publish through `links`. Given once, right after they are made; they are made after the
   * publisher because they may report a change while they are being made, and the target hands every
   * change to the publisher.
   */
  useClusterLinks(links: ClusterPublishLinks): void {
    this.#links = links
  }

  /** Publishes go through connections of a Cluster's masters, chosen per channel. */
  get isCluster(): boolean {
    return this.#links !== undefined
  }

  /** Every connection a channel may publish through is usable (always true of a single client). */
  isHealthy(): boolean {
    return this.#links?.isHealthy() ?? true
  }

  /** The publish connections that are usable, for `stats().connections`. */
  usableCount(): number {
    return this.#links?.usableCount() ?? (this.#client.status === 'ready' ? 1 : 0)
  }

  /** On close: the publisher's own connections to a Cluster's masters are let go. */
  close(): void {
    this.#links?.close()
  }

  /** Some frames wait for their channel's connection. */
  get hasHeld(): boolean {
    return this.#held.length > 0
  }

  /** Queues `frame` for `channel`; it leaves at the end of the current task with the rest of the tick. */
  enqueue(channel: string, frame: OutgoingFrame): void {
    appendFrame(this.#outbox, channel, frame)
    this.#schedulePublish()
  }

  /** A connection came up or an answer came: held frames go out at the end of the task. */
  mayRelease(): void {
    this.#mayRelease = true
    if (this.#held.length > 0) this.#schedulePublish()
  }

  /** Publishes now what is held (where its connection is usable) and what this tick queued. */
  releaseHeld(): void {
    this.#mayRelease = true
    this.publishOutbox()
  }

  /**
   * One PUBLISH per channel per tick, carrying a batch frame when several events share it. While a
   * channel's connection is not ready its frames are held instead, and the held ones go first once it is.
   */
  publishOutbox(): void {
    this.#isFlushScheduled = false
    if (this.#host.isClosed()) return
    if (this.#held.length > 0 && (this.#mayRelease || this.#links === undefined)) this.#release()
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

  /** On close: forgets every frame not yet published and returns how many there were. */
  discard(): number {
    const held =
      this.#held.length + [...this.#outbox.values()].reduce((sum, frames) => sum + frames.length, 0)
    if (held > 0) {
      this.#held = []
      this.#heldChannels.clear()
      this.#outbox = new Map()
    }
    return held
  }

  #schedulePublish(): void {
    if (!this.#isFlushScheduled) {
      this.#isFlushScheduled = true
      queueMicrotask(() => this.publishOutbox())
    }
  }

  /** Publishes the held frames whose channel's connection is usable now, in order. */
  #release(): void {
    this.#mayRelease = false
    if (this.#links === undefined && this.#client.status !== 'ready') return
    const held = this.#held
    this.#held = []
    this.#heldChannels.clear()
    const routes = new Map<string, RedisClient | null>()
    const ready = new Map<string, OutgoingFrame[]>()
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
    if (this.#links === undefined) return this.#client.status === 'ready' ? this.#client : undefined
    const via = this.#links.route(channel)
    if (via === undefined) return undefined
    const inFlight = this.#publishing.get(channel)
    if (inFlight !== undefined && (inFlight.via !== via || inFlight.hasFailed)) return undefined
    return via
  }

  #send(via: RedisClient, channel: string, frames: OutgoingFrame[]): void {
    if (this.#echoes !== undefined) {
      // Yoga's format has no batch: one message per event.
      for (const frame of frames) this.#publish(via, channel, [frame])
      return
    }
    // The same cut as every link's batches: at most 256 KiB and 5,000 events a message.
    forEachBatch(
      frames.length,
      (i) => frames[i]!.length,
      () => 1,
      (start, end) =>
        this.#publish(via, channel, end - start === frames.length ? frames : frames.slice(start, end)),
    )
  }

  #hold(item: HeldFrame): void {
    this.#held.push(item)
    this.#heldChannels.set(item.channel, (this.#heldChannels.get(item.channel) ?? 0) + 1)
  }

  /** Puts frames the cluster refused back in front of the channel's held frames, after those sent before them. */
  #requeue(channel: string, frames: OutgoingFrame[]): void {
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
    this.#host.counters.dropped += excess
    if (this.#isOverflowReported || this.#host.isClosed()) return
    // Once per outage: the counter tells how many.
    this.#isOverflowReported = true
    this.#host.reportError(
      new EventwireError(
        'ERR_OVERFLOW',
        `the publish connection is not ready and ${this.#offlineQueueSize} events are held: dropping the oldest`,
      ),
    )
  }

  #publish(via: RedisClient, channel: string, frames: OutgoingFrame[]): void {
    const host = this.#host
    const events = frames.length
    let publishing: Promise<unknown>
    const first = frames[0]!
    if (typeof first !== 'string') {
      // A kept type: one script appends the batch to the stream and publishes it (recovery.ts).
      publishing = this.#recovery!.publish(via, channel, first.type, frames as KeptFrame[])
    } else {
      const batch = events === 1 ? first : encodeBatch(frames as string[])
      const message = this.#auth === undefined ? batch : this.#auth.sign(batch)
      // Redis will echo it to us if we listen: remember it, to tell the echo from another node's message.
      if (this.#echoes !== undefined && host.isListening(channel)) this.#echoes.expect(channel, message)
      publishing = this.#isSharded ? via.spublish(channel, message) : via.publish(channel, message)
    }
    const links = this.#links
    if (links !== undefined) {
      const inFlight = this.#publishing.get(channel)
      if (inFlight === undefined) this.#publishing.set(channel, { via, count: 1, hasFailed: false })
      else inFlight.count++
    }
    host.track(
      publishing.then(
        () => {
          host.counters.sent += events
          this.#settled(channel)
        },
        (cause: unknown) => {
          if (links !== undefined && !host.isClosed() && links.failed(channel, cause)) {
            // A connection that closed or a slot that moved: publish them again, in order, once the
            // channel's connection is usable (a copy of one that did go out is dropped by the receivers).
            const inFlight = this.#publishing.get(channel)
            if (inFlight !== undefined) inFlight.hasFailed = true
            this.#requeue(channel, frames)
          } else {
            host.counters.dropped += events
            if (!host.isClosed())
              host.reportError(
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
    if (this.#heldChannels.has(channel)) this.#host.changed()
  }
}

function appendFrame(outbox: Map<string, OutgoingFrame[]>, channel: string, frame: OutgoingFrame): void {
  const frames = outbox.get(channel)
  if (frames === undefined) outbox.set(channel, [frame])
  else frames.push(frame)
}
