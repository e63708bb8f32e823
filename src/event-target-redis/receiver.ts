import { DeliveryPacer } from '../core/delivery-pacer.js'
import { EventwireError } from '../core/errors.js'
import { decodeFrames, type Frame, type FrameLimits } from '../core/frame.js'
import { isFirstSight, withHops } from '../core/hops.js'
import type { ListenerRegistry } from '../core/registry.js'
import type { ErrorSink } from '../core/report.js'
import { type DetailCheck, OrderedChecks } from '../core/schema.js'
import type { EventwireStats, Serializer } from '../core/types.js'
import type { FrameAuth } from './frame-auth.js'
import type { RedisRecovery } from './recovery.js'
import type { SequenceTracker } from './sequence.js'
import type { EchoFilter } from './yoga-format.js'

/**
 * The inbound side of the Redis target: a message on a channel in, events to local listeners out. A
 * channel is shared with every node (and perhaps other programs), so everything received is checked here
 * before it is delivered: the signature (`auth`), the frames, their type against the channel's, our own
 * publishes echoed back, copies and late arrivals (by sequence number) and bridged events seen already.
 * A burst delivered at once is paced across tasks. Yoga's wire format (the detail alone) has its own path.
 */

/** What the receiver shares with its target. */
export interface ReceiverHost {
  /** The target: bridged-event identities are remembered per target. */
  readonly node: object
  readonly registry: ListenerRegistry
  readonly counters: EventwireStats
  readonly reportError: ErrorSink
  /** Reports what peers send wrong at a bounded rate. */
  readonly reportAnomaly: (error: EventwireError) => boolean
  isClosed(): boolean
  /** Checks received details against the target's schemas; undefined when nothing is checked. */
  readonly checkReceived: DetailCheck | undefined
}

/** Events that may wait behind a schema answering asynchronously before more are refused. */
const MAX_WAITING_EVENTS = 10_000

export interface ReceiverOptions {
  /** Origin of this node's frames: Redis echoes them back, and they were delivered locally at dispatch. */
  readonly nodeId: string
  readonly prefix: string
  readonly limits: FrameLimits
  readonly serializer: Serializer
  readonly auth: FrameAuth | undefined
  /** Set in the 'graphql-yoga' wire format: tells Redis's echo of our own publishes from others' messages. */
  readonly echoes: EchoFilter | undefined
  readonly sequences: SequenceTracker
  /** Set with `history`: positions of kept types are read, and their live events held during a replay. */
  readonly recovery: RedisRecovery | undefined
}

export class RedisReceiver {
  readonly #host: ReceiverHost
  readonly #nodeId: string
  readonly #prefix: string
  readonly #limits: FrameLimits
  readonly #serializer: Serializer
  readonly #auth: FrameAuth | undefined
  readonly #echoes: EchoFilter | undefined
  readonly #sequences: SequenceTracker
  readonly #recovery: RedisRecovery | undefined
  /**
   * Received messages to local listeners, in slices across tasks when a burst arrives at once: the
   * frames of a message from one index to another (or, in yoga's format, one event).
   */
  readonly #pacer = new DeliveryPacer<readonly Frame[] | Event, string>((received, type, from, to) => {
    if (Array.isArray(received)) this.#acceptFrames(received, type, from, to)
    else this.#host.counters.delivered += this.#host.registry.deliver(received as Event)
  })

  /** Events in order behind schemas that answer asynchronously; only when received events are checked. */
  readonly #checked: OrderedChecks<Frame & { kind: 'event' }> | undefined

  constructor(options: ReceiverOptions, host: ReceiverHost) {
    this.#host = host
    if (host.checkReceived !== undefined) {
      this.#checked = new OrderedChecks(
        (frame) => this.#deliverChecked(frame, host.checkReceived!),
        MAX_WAITING_EVENTS,
        (frame) =>
          this.#refuse(new EventwireError('ERR_OVERFLOW', 'too much waiting for a schema'), frame.type),
      )
    }
    this.#nodeId = options.nodeId
    this.#prefix = options.prefix
    this.#limits = options.limits
    this.#serializer = options.serializer
    this.#auth = options.auth
    this.#echoes = options.echoes
    this.#sequences = options.sequences
    this.#recovery = options.recovery
  }

  /** A message Redis delivered on `channel`. */
  receive(channel: string, message: string): void {
    const host = this.#host
    if (host.isClosed() || !channel.startsWith(this.#prefix)) return
    const type = channel.slice(this.#prefix.length)
    // A message may still arrive for a type we just left, or for a channel of someone sharing the client.
    if (!host.registry.has(type)) return
    if (this.#echoes !== undefined) {
      this.#receiveYoga(channel, type, message)
      return
    }
    let frames = message
    if (this.#auth !== undefined) {
      const verified = this.#auth.verify(message)
      if (verified === undefined) {
        host.counters.dropped++
        host.reportAnomaly(
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
      host.counters.dropped++
      host.reportError(
        new EventwireError(result.error.code, `on "${channel}": ${result.error.message}`, {
          cause: result.error.cause,
          eventType: type,
        }),
      )
      return
    }
    let received = result.frames
    if (this.#recovery?.isKept(type)) {
      received = this.#recovery.observe(type, received)
      if (received.length === 0) return
    }
    this.deliverFrames(type, received)
  }

  /** Frames received on the channel of `type` (or replayed from its history) to local listeners, paced. */
  deliverFrames(type: string, received: Frame[]): void {
    // Delivered now, as many as this task's slice has room for; the rest follow in later tasks.
    const now = this.#pacer.admit(received.length)
    if (now > 0) this.#acceptFrames(received, type, 0, now)
    this.#pacer.push(received, type, now, received.length)
  }

  /** On close: what waits for a later task is never delivered. */
  clear(): void {
    this.#pacer.clear()
    this.#checked?.clear()
  }

  /** Checks and delivers frames `from` to `to` of a message received on the channel of `type`. */
  #acceptFrames(frames: readonly Frame[], type: string, from: number, to: number): void {
    const host = this.#host
    for (let index = from; index < to; index++) {
      const frame = frames[index]!
      if (frame.kind !== 'event' || frame.type !== type) {
        const channel = this.#prefix + type
        host.counters.dropped++
        host.reportError(
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
      if (frame.origin === this.#nodeId) continue
      if (frame.seq !== undefined && !this.#sequences.isNewer(frame.origin, type, frame.seq)) {
        // A copy (ioredis resent a PUBLISH whose answer was lost) or a late arrival: delivering it would
        // break at-most-once or per-dispatcher order.
        host.counters.dropped++
        this.#sequences.dropped(frame.origin, type)
        continue
      }
      // A bridged event that reached this node by another path already: deliver it once.
      if (!isFirstSight(host.node, frame.id)) continue
      host.counters.received++
      if (this.#checked !== undefined) {
        this.#checked.push(frame)
        continue
      }
      host.counters.delivered += host.registry.deliver(
        withHops(new CustomEvent(type, { detail: frame.detail }), frame.hops, frame.id),
      )
    }
  }

  /** Delivers an event once its detail passed its schema; a promise while an asynchronous one answers. */
  #deliverChecked(frame: Frame & { kind: 'event' }, check: DetailCheck): Promise<void> | undefined {
    const deliver = (invalid: EventwireError | undefined) => {
      if (this.#host.isClosed()) return
      if (invalid !== undefined) return this.#refuse(invalid, frame.type)
      this.#host.counters.delivered += this.#host.registry.deliver(
        withHops(new CustomEvent(frame.type, { detail: frame.detail }), frame.hops, frame.id),
      )
    }
    const invalid = check(frame.type, frame.detail)
    if (invalid instanceof Promise) return invalid.then(deliver)
    deliver(invalid)
    return undefined
  }

  /** A received event refused by its schema: counted and reported, at a bounded rate per target. */
  #refuse(error: EventwireError, type: string): void {
    this.#host.counters.dropped++
    this.#host.reportAnomaly(
      new EventwireError(error.code, `on "${this.#prefix}${type}": ${error.message}`, {
        eventType: type,
        issues: error.issues,
        cause: error.cause,
      }),
    )
  }

  /** A message in yoga's format: the detail alone, `''` for none. Our own, echoed by Redis, is skipped. */
  #receiveYoga(channel: string, type: string, message: string): void {
    const host = this.#host
    if (this.#echoes!.isEcho(channel, message)) return
    if (message.length > this.#limits.maxFrameBytes) {
      host.counters.dropped++
      host.reportError(
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
      host.counters.dropped++
      host.reportError(
        new EventwireError('ERR_SERIALIZE', `on "${channel}": the message cannot be parsed`, {
          cause,
          eventType: type,
        }),
      )
      return
    }
    host.counters.received++
    const event = new CustomEvent(type, { detail })
    if (this.#pacer.admit(1) === 1) host.counters.delivered += host.registry.deliver(event)
    else this.#pacer.push(event, type, 0, 1)
  }
}
