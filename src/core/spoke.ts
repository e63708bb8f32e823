import { type Backoff, backoffDelayMs, type ReconnectOptions, readBackoff } from './backoff.js'
import { type FrameCodec, resolveCodec } from './codec.js'
import { DEFAULTS } from './defaults.js'
import { DeliveryPacer } from './delivery-pacer.js'
import { EventwireError, invalidOption } from './errors.js'
import { type Frame, type FrameLimits, HEARTBEAT_PING_ID, PROTOCOL_VERSION, wireEventType } from './frame.js'
import { eventHops, eventId, isFirstSight, withHops } from './hops.js'
import {
  CLOSE_GOING_AWAY,
  CLOSE_HEARTBEAT_TIMEOUT,
  CLOSE_NORMAL,
  createNodeId,
  type Link,
  type LinkCloseInfo,
} from './link.js'
import { LinkWriter, type OverflowPolicy } from './link-writer.js'
import { NetworkTargetBase } from './network-target.js'
import {
  readFunction,
  readLimits,
  readNonNegativeInteger,
  readOptionsObject,
  readOverflow,
  readPositiveInteger,
  readSerializer,
} from './options.js'
import { createPeerReporter } from './report.js'
import { SpokePositions } from './resume.js'
import { type EventsOptions, OrderedChecks } from './schema.js'
import type { EventwireStats, NetworkEventTarget, NetworkEventTargetOptions, TypedEvent } from './types.js'

/** What a transport calls as its link to the hub reports activity. */
export interface SpokeLinkHandlers {
  /** Hand every message read from the link here, in order (hostile input is fine: it is validated). */
  receive(data: unknown): void
  /** The link closed or failed; call once. */
  closed(info?: LinkCloseInfo): void
  /** The platform's send buffer drained (optional: the spoke also polls). */
  drained(): void
  /**
   * A message from the other side was lost on the link without closing it (the platform could not
   * deliver it, e.g. a `messageerror`): counted in `stats().dropped` and reported.
   */
  lost(error: EventwireError): void
}

/**
 * Opens one link to the hub: return (or resolve to) the link once it is open, throw (or reject) if it
 * cannot be opened. Called again for every reconnect; `signal` aborts when the spoke closes meanwhile.
 */
export type SpokeConnector<W = string> = (
  handlers: SpokeLinkHandlers,
  signal: AbortSignal,
) => Link<W> | Promise<Link<W>>

/** `TEvent` is inferred from `events`; a spoke checks what it dispatches against them, by default. */
export interface SpokeOptions<W = string, TEvent extends TypedEvent = TypedEvent>
  extends NetworkEventTargetOptions,
    EventsOptions<TEvent> {
  /** Opens a link to the hub; supplied by the transport. */
  connect: SpokeConnector<W>
  /**
   * How frames travel on the link: JSON text (the default, built from `serializer` and `limits`) or
   * structured clone (`createCloneCodec()`, for worker links). Must match the hub's.
   */
  codec?: FrameCodec<W>
  /** Origin id of events dispatched here. @default random */
  nodeId?: string
  /** Frame size, type length and batch limits. @see FrameLimits */
  limits?: Partial<FrameLimits>
  /** Backoff between reconnect attempts, or `false` to close for good when the link is lost. */
  reconnect?: ReconnectOptions | false
  /** How often a ping goes to the hub, in ms; 0 disables heartbeats. @default 15_000 */
  heartbeatIntervalMs?: number
  /**
   * A link silent for this long (no frame at all, pongs included) is declared dead and replaced.
   * @default 2 × heartbeatIntervalMs
   */
  heartbeatTimeoutMs?: number
  /**
   * Events kept while disconnected and sent after the next connect; past it the oldest are dropped and
   * counted. 0 drops every event dispatched while offline (at-most-once, stated plainly). Before the
   * first connection, at least 10,000 are kept whatever this says: an event dispatched right after the
   * target was created is sent once it connects, not lost.
   * @default 10_000
   */
  offlineQueueSize?: number
  /**
   * `ready` rejects with `ERR_TIMEOUT` (naming the last connection error) if the first connection has
   * not completed after this long; the spoke keeps trying. 0 waits forever.
   * @default 10_000
   */
  readyTimeoutMs?: number
  /**
   * Dial at once. `false` waits for `start()`: a subclass whose link needs its own constructor to have
   * finished starts the spoke at the end of it, so nothing reaches it half built.
   * @default true
   */
  start?: boolean
  /** Most bytes queued toward the hub before `overflow` applies. @default 8 MiB */
  maxBufferedBytes?: number
  /** @default 'drop-oldest' */
  overflow?: OverflowPolicy
  /**
   * Two-party mode: this node also routes. It accepts the other side's `sub`/`unsub` and, once the other
   * side has said it is a peer too, sends it only the types it subscribed to. Both ends of a MessagePort
   * pair use it; against a hub it behaves as a plain spoke.
   * @default false
   */
  peer?: boolean
}

type SpokeState = 'connecting' | 'handshake' | 'connected' | 'waiting' | 'closed'

interface FlushWaiter {
  id: number
  resolve: () => void
  reject: (error: Error) => void
}

/** Events kept before the first connection, at least (`offlineQueueSize` may say more). */
const FIRST_CONNECTION_QUEUE_SIZE = 10_000
/**
 * The least wait before trying again after the hub refused this spoke's credentials (its longest backoff
 * if that is longer): a refusal is repeated until the credentials change, so hammering only costs both.
 */
const REFUSED_RETRY_DELAY_MS = 2_000
/** Frames that may wait behind a schema answering asynchronously, as behind a hub's `authorize`. */
const MAX_WAITING_FRAMES = 10_000

/**
 * A spoke of a hub-and-spoke topology, independent of any transport: local listeners plus one link to the
 * hub that carries its interest (sub/unsub) and events both ways. Reconnects with backoff, resubscribes
 * every live type, reports a `gap` after each reconnect, and detects dead links with heartbeats.
 */
export class Spoke<TEvent extends TypedEvent = TypedEvent, W = string>
  extends NetworkTargetBase<TEvent>
  implements NetworkEventTarget<TEvent>
{
  readonly nodeId: string
  readonly ready: Promise<void>
  readonly #codec: FrameCodec<W>
  readonly #limits: FrameLimits
  readonly #connect: SpokeConnector<W>
  readonly #backoff: Backoff | undefined
  readonly #heartbeatIntervalMs: number
  readonly #heartbeatTimeoutMs: number
  readonly #offlineQueueSize: number
  readonly #maxBufferedBytes: number
  readonly #overflow: OverflowPolicy
  #resolveReady!: () => void
  #rejectReady!: (error: Error) => void
  #isReady = false

  #state: SpokeState = 'connecting'
  /** Bumped whenever a link is abandoned, so late callbacks of an old link are ignored. */
  #serial = 0
  #link: Link<W> | undefined
  #writer: LinkWriter<W> | undefined
  #dial: AbortController | undefined
  #isStarted = false
  #attempt = 0
  #reconnectTimer: ReturnType<typeof setTimeout> | undefined
  #heartbeatTimer: ReturnType<typeof setInterval> | undefined
  #lastReceivedAt = 0
  /** When the message before the current one arrived: the start of a gap the hub announces. */
  #previousReceivedAt = 0
  /** Reports the hub's error frames at a bounded rate, whatever it sends. */
  readonly #reportHub: (error: EventwireError) => boolean
  #disconnectedAt: number | undefined
  #handshakePingId = 0
  #nextPingId = 0
  #flushWaiters: FlushWaiter[] = []
  readonly #isPeer: boolean
  /** True once the other side said it is a peer: events then go out only for `#remoteTypes`. */
  #isRemoteFiltering = false
  readonly #remoteTypes = new Set<string>()
  #offline: W[] = []
  #isOfflineOverflowReported = false
  /** True once a first connection completed: from then on `offlineQueueSize` alone bounds the queue. */
  #hasConnected = false
  /** The last connection failure, as reported: repeated failures of one cause are reported once. */
  #lastFailure: string | undefined
  /**
   * Received frames applied in slices across tasks when a burst arrives at once: the frames of a message
   * from one index to another, and the link they came from.
   */
  readonly #pacer = new DeliveryPacer<readonly Frame[], number>((frames, serial, from, to) =>
    this.#applyFrames(frames, serial, from, to),
  )

  /**
   * History positions of the events received, per type, and the resume frames of a reconnect
   * (src/core/resume.ts). Counting starts with the first position frame a hub with history sends.
   */
  readonly #positions: SpokePositions
  /** Types whose sub waits for the hub's hello: resumed if it lists `resume`, else subscribed. */
  #deferred: string[] | undefined

  /** Received frames in order behind schemas that answer asynchronously; only when received events are checked. */
  readonly #checked: OrderedChecks<readonly [Frame, number]> | undefined

  constructor(options: SpokeOptions<W, TEvent>) {
    const opts = readOptionsObject(options, 'Spoke')
    super(opts)
    this.#reportHub = createPeerReporter(this.reportError)
    this.#positions = new SpokePositions(this.reportStatus)
    if (this.checkReceived !== undefined) {
      // Each frame with the link it came on: one held behind a slow schema may outlive its link.
      this.#checked = new OrderedChecks<readonly [Frame, number]>(
        ([frame, serial]) => this.#applyChecked(frame, serial),
        MAX_WAITING_FRAMES,
        () => this.#refuseReceived(new EventwireError('ERR_OVERFLOW', 'too much waiting for a schema')),
      )
    }
    const connect = readFunction<SpokeConnector<W>>('connect', opts.connect)
    if (connect === undefined) invalidOption('connect', 'a function', undefined)
    this.#connect = connect
    this.#codec = resolveCodec(opts.codec, readSerializer(opts.serializer), readLimits(opts.limits))
    this.#limits = this.#codec.limits
    this.#backoff = opts.reconnect === false ? undefined : readBackoff(opts.reconnect)
    this.#heartbeatIntervalMs = readNonNegativeInteger(
      'heartbeatIntervalMs',
      opts.heartbeatIntervalMs,
      15_000,
    )
    this.#heartbeatTimeoutMs = readPositiveInteger(
      'heartbeatTimeoutMs',
      opts.heartbeatTimeoutMs,
      Math.max(1, this.#heartbeatIntervalMs * 2),
    )
    this.#offlineQueueSize = readNonNegativeInteger(
      'offlineQueueSize',
      opts.offlineQueueSize,
      DEFAULTS.offlineQueueSize,
    )
    const readyTimeoutMs = readNonNegativeInteger(
      'readyTimeoutMs',
      opts.readyTimeoutMs,
      DEFAULTS.readyTimeoutMs,
    )
    this.#maxBufferedBytes = readPositiveInteger(
      'maxBufferedBytes',
      opts.maxBufferedBytes,
      DEFAULTS.maxBufferedBytes,
    )
    this.#overflow = readOverflow(opts.overflow, 'drop-oldest')
    this.#isPeer = opts.peer === true
    this.nodeId = opts.nodeId ?? createNodeId()
    this.ready = new Promise<void>((resolve, reject) => {
      this.#resolveReady = resolve
      this.#rejectReady = reject
    })
    // `ready` may never be awaited; its rejection on close must not become an unhandled rejection.
    this.ready.catch(() => {})
    if (readyTimeoutMs > 0) {
      const timer = setTimeout(() => this.#readyTimedOut(readyTimeoutMs), readyTimeoutMs)
      unrefTimer(timer)
      this.ready.then(
        () => clearTimeout(timer),
        () => clearTimeout(timer),
      )
    }
    if (opts.start !== false) this.start()
  }

  /** Dials the hub, once (with `start: false`; otherwise the constructor has). A closed spoke stays closed. */
  start(): void {
    if (this.#isStarted || this.#state === 'closed') return
    this.#isStarted = true
    this.#open()
  }

  /** Delivers to local listeners synchronously and sends the event to the hub for everyone else. */
  dispatchEvent(event: TEvent): boolean {
    if (!this.beginDispatch(event, this.#state === 'closed')) return false
    const type = this.eventType(event.type)
    // A peer whose other side filters sends nothing the other side did not subscribe to.
    if (!(this.#isRemoteFiltering && !this.#remoteTypes.has(type))) {
      // Encode before any delivery: a detail that cannot be serialized reaches no one and throws here.
      const hops = eventHops(event)
      const id = eventId(event)
      this.#send(
        this.#codec.event(type, this.nodeId, event.detail, hops, id),
        this.#codec.runKey?.(type, this.nodeId, hops, id),
      )
    }
    this.counters.delivered += this.registry.deliver(event)
    return !event.defaultPrevented
  }

  flush(): Promise<void> {
    if (this.#state === 'closed')
      return Promise.reject(new EventwireError('ERR_CLOSED', 'the spoke is closed'))
    const id = ++this.#nextPingId
    if (this.#writer !== undefined) this.#writer.writeControl(this.#codec.ping(id))
    // Offline, the ping of the next handshake has a larger id and answers this waiter.
    return new Promise((resolve, reject) => this.#flushWaiters.push({ id, resolve, reject }))
  }

  async close(): Promise<void> {
    if (this.#state === 'closed') return
    this.#state = 'closed'
    this.isClosed = true
    this.#serial++
    this.#dial?.abort()
    this.#stopTimers()
    if (this.#writer !== undefined) {
      // Say goodbye, so the other side drops this node's interest at once and, on a two-party link
      // (a MessagePort, a worker) whose platform has no close signal, learns that this end is gone.
      this.#writer.writeControl(this.#codec.bye(CLOSE_NORMAL, 'closed'))
      this.#writer.flush()
      this.#writer.dispose()
      this.#link?.close(CLOSE_NORMAL, 'closed')
    }
    this.#link = undefined
    this.#writer = undefined
    this.#offline = []
    this.counters.connections = 0
    this.registry.clear()
    this.#pacer.clear()
    this.#checked?.clear()
    const closed = new EventwireError('ERR_CLOSED', 'the spoke is closed')
    for (const waiter of this.#flushWaiters.splice(0)) waiter.reject(closed)
    if (!this.#isReady) this.#rejectReady(closed)
    this.reportStatus({ type: 'closed' })
  }

  stats(): EventwireStats {
    return { ...this.counters, subscriptions: this.registry.types().length }
  }

  // --- connection lifecycle ---

  #open(): void {
    const serial = ++this.#serial
    this.#state = 'connecting'
    this.reportStatus({ type: 'connecting' })
    const dial = new AbortController()
    this.#dial = dial
    const handlers: SpokeLinkHandlers = {
      receive: (data) => {
        if (serial === this.#serial) this.#receive(data)
      },
      closed: (info) => {
        if (serial === this.#serial) this.#lost(info ?? {})
      },
      drained: () => {
        if (serial === this.#serial) this.#writer?.drained()
      },
      lost: (error) => {
        if (serial !== this.#serial || this.isClosed) return
        this.counters.dropped++
        this.reportLinkError(error)
      },
    }
    let opening: Link<W> | Promise<Link<W>>
    try {
      opening = this.#connect(handlers, dial.signal)
    } catch (error) {
      this.#lost({ error: toError(error) })
      return
    }
    Promise.resolve(opening).then(
      (link) => {
        if (serial !== this.#serial) link.close(CLOSE_NORMAL, 'abandoned')
        else this.#opened(link)
      },
      (error: unknown) => {
        if (serial === this.#serial) this.#lost({ error: toError(error) })
      },
    )
  }

  #opened(link: Link<W>): void {
    this.#dial = undefined
    this.#link = link
    const writer = new LinkWriter(link, this.#codec, {
      maxBufferedBytes: this.#maxBufferedBytes,
      overflow: this.#overflow,
      announceDrops: true,
      ...this.writerReports(),
      onOverflowClose: (error) => {
        link.close(CLOSE_NORMAL, 'overflow')
        // #lost reports it.
        this.#lost({ error })
      },
    })
    this.#writer = writer
    this.#isRemoteFiltering = false
    this.#remoteTypes.clear()
    this.#state = 'handshake'
    this.counters.connections = 1
    this.#lastReceivedAt = Date.now()
    writer.writeControl(this.#codec.hello(this.nodeId, this.#isPeer ? 'peer' : 'spoke', this.#codec.features))
    const positions = this.#positions
    positions.opened(this.#serial)
    // Types with a known position wait for the hub's hello: a resume frame goes only to a hub that lists
    // `resume` (an older one would refuse the whole batch). The handshake ping waits with them, so that
    // `connected` means their subscriptions and replays are done. Nothing waits when nothing is known.
    this.#deferred = positions.holds ? [] : undefined
    for (const type of this.registry.types()) {
      if (this.#deferred !== undefined && positions.knows(type)) {
        this.#deferred.push(type)
        continue
      }
      writer.writeControl(this.#codec.sub(type))
      positions.subscribedPlain()
    }
    this.#trimOffline()
    for (const frame of this.#offline.splice(0)) if (writer.writeEvent(frame)) this.counters.sent++
    this.#handshakePingId = ++this.#nextPingId
    if (this.#deferred === undefined) writer.writeControl(this.#codec.ping(this.#handshakePingId))
    this.#startHeartbeat()
  }

  /** The link is gone. `isOrderly`: the other side said goodbye (1000, 1001), which is no failure. */
  #lost(info: LinkCloseInfo, isOrderly = false): void {
    if (this.#state === 'closed') return
    this.#serial++
    this.#stopTimers()
    this.#writer?.dispose()
    this.#writer = undefined
    this.#link = undefined
    this.#dial = undefined
    const wasLinked = this.counters.connections > 0
    this.counters.connections = 0
    if (wasLinked && this.#isReady) this.#disconnectedAt ??= Date.now()
    const error =
      info.error ??
      (info.code === undefined
        ? undefined
        : new EventwireError('ERR_CONNECTION', `link closed (${info.code})`))
    this.reportStatus(error === undefined ? { type: 'disconnected' } : { type: 'disconnected', error })
    const isRefused = error instanceof EventwireError && error.code === 'ERR_UNAUTHORIZED'
    // Every failure reaches onError, once per cause until the spoke connects again: a retry loop against
    // a wrong port is one report, not one per attempt. A refusal also waits the longest backoff below.
    if (error !== undefined && !isOrderly) {
      const failure = `${(error as Partial<EventwireError>).code ?? error.name}: ${error.message}`
      if (failure !== this.#lastFailure) {
        this.#lastFailure = failure
        this.reportError(
          error instanceof EventwireError
            ? error
            : new EventwireError('ERR_CONNECTION', error.message, { cause: error }),
        )
      }
    }
    if (this.#backoff === undefined) {
      void this.close()
      return
    }
    const delayMs = isRefused
      ? Math.max(this.#backoff.maxDelayMs, REFUSED_RETRY_DELAY_MS)
      : backoffDelayMs(this.#backoff, this.#attempt)
    this.#attempt++
    this.#state = 'waiting'
    this.reportStatus({ type: 'reconnecting', attempt: this.#attempt, delayMs })
    this.#reconnectTimer = setTimeout(() => {
      this.#reconnectTimer = undefined
      this.#open()
    }, delayMs)
  }

  #connected(): void {
    this.#state = 'connected'
    this.#attempt = 0
    this.#hasConnected = true
    this.#isOfflineOverflowReported = false
    this.#lastFailure = undefined
    this.reportStatus({ type: 'connected' })
    if (!this.#isReady) {
      this.#isReady = true
      this.#resolveReady()
    } else if (this.#disconnectedAt !== undefined) {
      this.counters.reconnects++
      // Types the hub replayed reported `recovered` (or their own gap); the others may have lost events.
      if (this.#positions.hasPlain) {
        this.reportStatus({ type: 'gap', since: this.#disconnectedAt, until: Date.now() })
      }
    }
    this.#disconnectedAt = undefined
  }

  #startHeartbeat(): void {
    if (this.#heartbeatIntervalMs === 0) return
    this.#heartbeatTimer = setInterval(() => {
      if (Date.now() - this.#lastReceivedAt > this.#heartbeatTimeoutMs) {
        const error = new EventwireError(
          'ERR_TIMEOUT',
          `no frame from the hub for ${this.#heartbeatTimeoutMs} ms`,
        )
        this.#link?.close(CLOSE_HEARTBEAT_TIMEOUT, 'heartbeat timeout')
        this.#lost({ code: CLOSE_HEARTBEAT_TIMEOUT, error })
        return
      }
      // Always the same text, so a hub's platform may answer it without waking the hub.
      this.#writer?.writeControl(this.#codec.ping(HEARTBEAT_PING_ID))
    }, this.#heartbeatIntervalMs)
    unrefTimer(this.#heartbeatTimer)
  }

  #stopTimers(): void {
    if (this.#heartbeatTimer !== undefined) clearInterval(this.#heartbeatTimer)
    if (this.#reconnectTimer !== undefined) clearTimeout(this.#reconnectTimer)
    this.#heartbeatTimer = undefined
    this.#reconnectTimer = undefined
  }

  // --- frames ---

  #send(frame: W, runKey?: string): void {
    if (this.#writer !== undefined) {
      if (this.#writer.writeEvent(frame, runKey)) this.counters.sent++
      return
    }
    const limit = this.#offlineLimit()
    if (limit === 0) {
      this.counters.dropped++
      return
    }
    this.#offline.push(frame)
    const excess = this.#offline.length - limit
    if (excess <= 0) return
    if (!this.#isOfflineOverflowReported) {
      this.#isOfflineOverflowReported = true
      this.reportError(
        new EventwireError(
          'ERR_OVERFLOW',
          `more than ${limit} events dispatched while not connected: dropping the oldest`,
        ),
      )
    }
    // The oldest go in chunks, so a full queue costs O(1) amortized per event, not a shift each.
    if (excess >= Math.max(1, limit >> 3)) this.#trimOffline()
  }

  #offlineLimit(): number {
    return this.#hasConnected
      ? this.#offlineQueueSize
      : Math.max(this.#offlineQueueSize, FIRST_CONNECTION_QUEUE_SIZE)
  }

  /** Drops the oldest offline events past the limit, counted. */
  #trimOffline(): void {
    const excess = this.#offline.length - this.#offlineLimit()
    if (excess <= 0) return
    this.#offline.splice(0, excess)
    this.counters.dropped += excess
  }

  /**
   * Reports an error that ends the current link (a transport's own envelope error); the link's close,
   * which carries the same error, is then not reported again.
   */
  protected reportLinkError(error: EventwireError): void {
    this.#lastFailure = `${error.code}: ${error.message}`
    this.reportError(error)
  }

  /** `ready` has waited `readyTimeoutMs`: reject it, naming what went wrong, and keep trying. */
  #readyTimedOut(timeoutMs: number): void {
    if (this.#isReady || this.#state === 'closed') return
    const last = this.#lastFailure === undefined ? '' : `: ${this.#lastFailure}`
    const error = new EventwireError('ERR_TIMEOUT', `not connected within ${timeoutMs} ms${last}`)
    this.#rejectReady(error)
    this.reportError(error)
  }

  protected override interestChanged(type: string, isInterested: boolean): void {
    // A type that leaves is not missed any more; one that comes back starts from the live events.
    if (!isInterested) this.#positions.forget(type)
    this.#writer?.writeControl(isInterested ? this.#codec.sub(type) : this.#codec.unsub(type))
  }

  #receive(data: unknown): void {
    this.#previousReceivedAt = this.#lastReceivedAt
    this.#lastReceivedAt = Date.now()
    const result = this.#codec.decode(data)
    if (!result.ok) {
      this.counters.dropped++
      this.reportError(result.error)
      return
    }
    const frames = result.frames
    const serial = this.#serial
    // Applied now, as many as this task's slice has room for; the rest follow in later tasks, in order.
    const now = this.#pacer.admit(frames.length)
    this.#applyFrames(frames, serial, 0, now)
    if (this.#state !== 'closed') this.#pacer.push(frames, serial, now, frames.length)
  }

  /** Applies frames `from` to `to` of a message that link `serial` brought. */
  #applyFrames(frames: readonly Frame[], serial: number, from: number, to: number): void {
    for (let index = from; index < to; index++) {
      if (this.#state === 'closed') return
      const frame = frames[index]!
      // Positions are counted here, in the order received, before any schema: an event refused by its
      // schema still had its offset. A link gone meanwhile keeps its own count for its last events.
      if (frame.kind === 'position') {
        this.#positions.position(serial, frame.type, frame.epoch, frame.offset)
        continue
      }
      // The link is gone meanwhile: its events were received and are delivered; the rest meant that link.
      if (serial !== this.#serial && frame.kind !== 'event') continue
      // Already received (a replay overlapping what an earlier link delivered): dropped.
      if (frame.kind === 'event' && this.#positions.counting && !this.#positions.event(serial, frame.type)) {
        continue
      }
      if (this.#checked !== undefined) this.#checked.push([frame, serial])
      else this.#apply(frame)
    }
  }

  /** Applies a received frame once its event, if it is one, passed its schema; a promise while it waits. */
  #applyChecked(frame: Frame, serial: number): Promise<void> | undefined {
    // As in #applyFrames: of a link gone meanwhile, only its events still count.
    if (serial !== this.#serial && frame.kind !== 'event') return undefined
    if (frame.kind !== 'event') {
      this.#apply(frame)
      return undefined
    }
    const invalid = this.checkReceived!(frame.type, frame.detail)
    if (invalid === undefined) this.#apply(frame)
    else if (!(invalid instanceof Promise)) this.#refuseReceived(invalid)
    else {
      return invalid.then((error) => {
        if (this.#state === 'closed') return
        if (error === undefined) this.#apply(frame)
        else this.#refuseReceived(error)
      })
    }
    return undefined
  }

  /** A received event that failed its schema (or could not wait for it): counted, reported at a bounded rate. */
  #refuseReceived(error: EventwireError): void {
    this.counters.dropped++
    this.#reportHub(error)
  }

  #apply(frame: Frame): void {
    switch (frame.kind) {
      case 'event':
        // The hub never echoes an event to its origin; this guards against a misbehaving relay.
        if (frame.origin === this.nodeId) return
        // A bridged event that reached this node by another path already: deliver it once.
        if (!isFirstSight(this, frame.id)) return
        this.counters.received++
        if (this.registry.has(frame.type)) {
          this.counters.delivered += this.registry.deliver(
            withHops(new CustomEvent(frame.type, { detail: frame.detail }), frame.hops, frame.id),
          )
        }
        return
      case 'pong':
        this.#pong(frame.id)
        return
      case 'ping':
        this.#writer?.writeControl(this.#codec.pong(frame.id))
        return
      case 'error': {
        const isReported = this.#reportHub(
          new EventwireError(frame.code, `hub reported: ${frame.message}`, { eventType: frame.eventType }),
        )
        if (isReported && frame.code === 'ERR_OVERFLOW' && this.#state === 'connected') {
          // The hub dropped events queued for this spoke (it read too slowly): what it missed is a gap.
          // Bounded like the reports, so a hub that floods these cannot flood onStatus.
          this.reportStatus({ type: 'gap', since: this.#previousReceivedAt, until: Date.now() })
        }
        return
      }
      case 'hello':
        if (frame.version !== PROTOCOL_VERSION) {
          this.reportError(
            new EventwireError(
              'ERR_PROTOCOL_VERSION',
              `the other side speaks protocol ${frame.version}, not ${PROTOCOL_VERSION}`,
            ),
          )
          void this.close()
          return
        }
        // Only a peer talking to a peer filters: a hub wants every event to route it.
        this.#isRemoteFiltering = this.#isPeer && frame.role === 'peer'
        if (frame.features?.includes('run') && this.#codec.features?.includes('run'))
          this.#writer?.enableRuns()
        this.#sendDeferred(frame.features?.includes('resume') === true)
        return
      case 'resumed':
        this.#positions.resumed(frame.type, frame.outcome, frame.count, this.#disconnectedAt ?? Date.now())
        return
      case 'resume':
        this.counters.dropped++
        this.reportError(new EventwireError('ERR_FRAME_MALFORMED', 'a hub does not send resume frames'))
        return
      case 'bye':
        // The other side closed on purpose; a spoke that reconnects comes back with its backoff. Our side
        // closes normally: web sockets throw on the codes a hub may give (1001).
        this.#link?.close(CLOSE_NORMAL, 'bye')
        this.#lost(
          { code: frame.code, reason: frame.reason },
          frame.code === CLOSE_NORMAL || frame.code === CLOSE_GOING_AWAY,
        )
        return
      case 'sub':
      case 'unsub':
        if (!this.#isPeer) {
          this.counters.dropped++
          this.reportError(
            new EventwireError('ERR_FRAME_MALFORMED', `a hub does not send ${frame.kind} frames`),
          )
          return
        }
        if (frame.kind === 'sub') this.#remoteTypes.add(frame.type)
        else this.#remoteTypes.delete(frame.type)
        return
    }
  }

  /** The hub's hello arrived: the types held back are resumed (or subscribed), then the handshake ping. */
  #sendDeferred(hubResumes: boolean): void {
    const deferred = this.#deferred
    const writer = this.#writer
    if (deferred === undefined || writer === undefined) return
    this.#deferred = undefined
    const types = deferred.filter((type) => this.registry.has(type))
    for (const frame of this.#positions.resumeFrames(types, this.#codec, hubResumes))
      writer.writeControl(frame)
    writer.writeControl(this.#codec.ping(this.#handshakePingId))
  }

  #pong(id: number): void {
    if (this.#state === 'handshake' && id >= this.#handshakePingId) this.#connected()
    if (this.#flushWaiters.length === 0) return
    const waiting: FlushWaiter[] = []
    for (const waiter of this.#flushWaiters) {
      if (waiter.id <= id) waiter.resolve()
      else waiting.push(waiter)
    }
    this.#flushWaiters = waiting
  }

  protected override eventType(type: unknown): string {
    return wireEventType(type, this.#limits)
  }
}

function toError(error: unknown): Error {
  return error instanceof Error ? error : new EventwireError('ERR_CONNECTION', String(error))
}

function unrefTimer(timer: unknown): void {
  ;(timer as { unref?: () => void }).unref?.()
}
