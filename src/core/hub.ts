import { type FrameCodec, messageBytes, resolveCodec } from './codec.js'
import { DEFAULTS } from './defaults.js'
import { DeliveryPacer } from './delivery-pacer.js'
import { EventwireError } from './errors.js'
import { RegistryEventTarget } from './event-target.js'
import { type Feature, type Frame, type FrameLimits, PROTOCOL_VERSION, wireEventType } from './frame.js'
import { eventHops, eventId, isFirstSight, withHops } from './hops.js'
import {
  CLOSE_GOING_AWAY,
  CLOSE_HEARTBEAT_TIMEOUT,
  CLOSE_NORMAL,
  CLOSE_POLICY_VIOLATION,
  CLOSE_PROTOCOL_ERROR,
  CLOSE_TOO_LARGE,
  CLOSE_TRY_AGAIN_LATER,
  createNodeId,
  type Link,
  type LinkCloseInfo,
} from './link.js'
import { LinkWriter, type OverflowPolicy, type SharedBufferBudget, SharedChunks } from './link-writer.js'
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
import { assertEvent } from './registry.js'
import { createPeerReporter, type ErrorSink, remoteError } from './report.js'
import { HubHistory, type HubHistoryOptions, type LinkPositions } from './resume.js'
import type { EventsOptions } from './schema.js'
import type {
  EventwireStats,
  NetworkEventTarget,
  NetworkEventTargetOptions,
  TypedEvent,
  TypedEventTarget,
} from './types.js'

export type HubAction = 'subscribe' | 'publish'

export interface WhenSubscribedOptions {
  /** Spokes that must subscribe. @default 1 */
  count?: number
  /** @default 10_000 */
  timeoutMs?: number
}

/**
 * What the hub knows about one accepted link. `TPrincipal` is what the transport's authentication
 * produced (the WebSocket hub: what `authenticate` returned; the iroh hub: the endpoint id).
 */
export interface HubConnectionInfo<TPrincipal = unknown> {
  /** Unique per accepted link, assigned by the hub. */
  readonly id: string
  /** Whatever the transport's authentication produced for this link. */
  readonly principal: TPrincipal
}

export interface AuthorizeRequest<TPrincipal = unknown> {
  principal: TPrincipal
  type: string
  action: HubAction
  connection: HubConnectionInfo<TPrincipal>
}

/**
 * `W`: what a frame is on the links (text by default); `TPrincipal`: see `HubConnectionInfo`; `TEvent`:
 * inferred from `events`. A hub checks what spokes send against `events` unless `validate.received` is
 * false: an invalid detail reaches no one, and its sender gets an `ERR_INVALID` error frame.
 */
export interface HubOptions<W = string, TPrincipal = unknown, TEvent extends TypedEvent = TypedEvent>
  extends NetworkEventTargetOptions,
    EventsOptions<TEvent> {
  /**
   * How frames travel on this hub's links: JSON text (the default, built from `serializer` and `limits`)
   * or structured clone (`createCloneCodec()`, for worker links).
   */
  codec?: FrameCodec<W>
  /** Origin id of events dispatched on the hub itself. @default random */
  nodeId?: string
  /** Frame size, type length and batch limits. @see FrameLimits */
  limits?: Partial<FrameLimits>
  /**
   * Most bytes queued toward one spoke before `overflow` applies; other spokes are never slowed.
   * @default 8 MiB
   */
  maxBufferedBytes?: number
  /**
   * What happens to a spoke that does not keep up: drop its newest or oldest queued events (counted in
   * `stats().dropped`), or close its link with code 1013.
   * @default 'drop-oldest'
   */
  overflow?: OverflowPolicy
  /**
   * Decides per connection, type and action whether a spoke may subscribe or publish. Runs once per
   * (connection, type, action); a refusal sends an `ERR_UNAUTHORIZED` error frame and delivers nothing.
   * @default everything allowed
   */
  authorize?: (request: AuthorizeRequest<TPrincipal>) => boolean | Promise<boolean>
  /**
   * A link that sends nothing at all (spokes ping every `heartbeatIntervalMs`) for this long is closed
   * with code 4000 and `ERR_TIMEOUT`; 0 disables the check. Set it to about 3× the spokes' heartbeat.
   * @default 0
   */
  idleTimeoutMs?: number
  /** Links beyond this many are closed at once with 1013 and `ERR_LIMIT`. @default 10_000 */
  maxConnections?: number
  /** Types one link may subscribe to; a further `sub` gets an `ERR_LIMIT` error frame. @default 10_000 */
  maxSubscriptionsPerConnection?: number
  /**
   * Subscriptions of all links together (one per link and type), and likewise authorization answers
   * remembered; a further `sub` gets an `ERR_LIMIT` error frame. Bounds what many connections, each
   * within its own limits, can make the hub hold.
   * @default 200_000
   */
  maxTotalSubscriptions?: number
  /**
   * Bytes queued toward all links together (each link's queue and its socket's buffer), plus frames
   * waiting behind an asynchronous `authorize`. Past it, a link holding more than its share (this over
   * the number of links) gets its `overflow` policy as if its own queue were full, so stalled readers
   * cannot take the memory the others need.
   * @default 256 MiB
   */
  maxTotalBufferedBytes?: number
  /**
   * Events per second one link may publish (a token bucket that holds one second's worth); events over it
   * are dropped, counted and answered with an `ERR_LIMIT` error frame (at most one per second). 0 means
   * no limit.
   * @default 0
   */
  maxPublishRatePerConnection?: number
  /** A link that has not sent its hello after this long is closed with 1008 and `ERR_TIMEOUT`. @default 10_000 */
  handshakeTimeoutMs?: number
  /**
   * Keep a history of these types, so that a spoke that reconnects is given what it missed, in order,
   * before the live events (docs/recovery.md). Without it nothing is kept and delivery is at most once.
   * `store` must answer synchronously for now (the default, a `MemoryHistory`, does).
   */
  history?: HubHistoryOptions
  /** Called when a link has been accepted. @see Hub.connectionTarget */
  onConnection?: (connection: HubConnectionInfo<TPrincipal>) => void
  /** Called once when an accepted link is gone, for whatever reason. */
  onDisconnection?: (connection: HubConnectionInfo<TPrincipal>, info: LinkCloseInfo) => void
}

/** @internal What `Hub.adopt` needs to know of a link whose handshake happened before the hub existed. */
export interface AdoptedLink<TPrincipal = unknown> {
  /** The id an earlier hub gave the link; kept when free. */
  id?: string
  principal?: TPrincipal
  /** The types the link subscribed to. */
  types: Iterable<string>
  /** Whether its hello listed the `run` feature. */
  runs?: boolean
}

/** The side of an accepted link that the transport drives. */
export interface HubConnection<TPrincipal = unknown> {
  readonly info: HubConnectionInfo<TPrincipal>
  /** Hand every message read from the link here, in order (hostile input is fine: it is validated). */
  receive(data: unknown): void
  /** The link is closed (by either side); call once. */
  closed(info?: LinkCloseInfo): void
  /** The platform's send buffer drained (optional: the hub also polls). */
  drained(): void
  /**
   * A message from this peer was lost on the link without closing it (the platform could not deliver
   * it, e.g. a `messageerror`): counted in `stats().dropped` and reported.
   */
  lost(error: EventwireError): void
  /**
   * Ends this link on purpose: writes what is queued and a `bye` frame with `code` and `reason`, closes
   * the link and forgets the peer. The other side learns why without waiting for the platform.
   */
  close(code: number, reason: string): void
}

/** Frames that may wait behind a pending asynchronous `authorize` before the link is closed. */
const MAX_BACKLOG_FRAMES = 10_000
/** Authorization answers remembered per connection. */
const MAX_AUTH_CACHE = 10_000

/**
 * The hub of a hub-and-spoke topology, independent of any transport: a target of its own plus the routing
 * of events among accepted links by interest. Each event is encoded once per fan-out, written to every
 * interested link except its origin, and batched per tick per link. `TPrincipal` is the type of what
 * the transport hands to `accept` as the principal, and what `authorize` and `onConnection` see.
 */
export class Hub<TEvent extends TypedEvent = TypedEvent, W = string, TPrincipal = unknown>
  extends NetworkTargetBase<TEvent>
  implements NetworkEventTarget<TEvent>
{
  readonly nodeId: string
  readonly ready: Promise<void> = Promise.resolve()
  readonly #codec: FrameCodec<W>
  readonly #maxBufferedBytes: number
  readonly #overflow: OverflowPolicy
  readonly #authorize: HubOptions['authorize']
  readonly #onConnection: HubOptions['onConnection']
  readonly #onDisconnection: HubOptions['onDisconnection']
  /** Set with `history`: appends, positions and replays (src/core/resume.ts). */
  readonly #history: HubHistory<W> | undefined
  /** What this hub's hello lists: the codec's features, `resume` only with a history. */
  readonly #features: readonly Feature[] | undefined
  /** type -> links that subscribed to it */
  readonly #interest = new Map<string, Set<HubPeer<W>>>()
  readonly #peers = new Map<string, HubPeer<W>>()
  #nextPeerId = 1
  readonly #taps = new Set<(event: Event) => void>()
  /** Events from spokes to the hub's listeners, connection targets and taps, in slices in a burst. */
  readonly #pacer = new DeliveryPacer<Event, ConnectionTarget<TypedEvent, W> | undefined>((event, target) =>
    this.#deliverRelayed(event, target),
  )
  readonly #interestWatchers = new Set<(type: string, isInterested: boolean) => void>()
  readonly #idleTimeoutMs: number
  readonly #maxConnections: number
  /** @internal */
  readonly maxSubscriptionsPerConnection: number
  /** @internal */
  readonly maxPublishRate: number
  /** @internal Bytes of frames one link may have waiting behind an asynchronous `authorize`. */
  readonly maxBacklogBytes: number
  readonly #handshakeTimeoutMs: number
  readonly #maxTotalSubscriptions: number
  #totalSubscriptions = 0
  /** Authorization answers remembered by all links; bounded by `maxTotalSubscriptions` too. */
  #totalAuthAnswers = 0
  /** @internal Bytes held for all links: queues, socket buffers and authorize backlogs. */
  readonly buffered: SharedBufferBudget
  /** Frames queued for blocked links, kept once for all of them. */
  readonly #chunks = new SharedChunks()
  #idleSweep: ReturnType<typeof setInterval> | undefined
  readonly #subscriptionWaiters = new Set<{
    type: string
    count: number
    settle: (error?: EventwireError) => void
  }>()

  constructor(options?: HubOptions<W, TPrincipal, TEvent>) {
    const opts = readOptionsObject(options, 'Hub')
    // What spokes send is checked by default: the hub is where untrusted input enters.
    super(opts, true)
    this.#codec = resolveCodec(opts.codec, readSerializer(opts.serializer), readLimits(opts.limits))
    this.#maxBufferedBytes = readPositiveInteger(
      'maxBufferedBytes',
      opts.maxBufferedBytes,
      DEFAULTS.maxBufferedBytes,
    )
    this.maxBacklogBytes = this.#maxBufferedBytes
    this.#overflow = readOverflow(opts.overflow, 'drop-oldest')
    // Every principal a link carries came through `accept`, typed `TPrincipal` there: the callbacks are
    // kept untyped in it, as the links are.
    this.#authorize = readFunction('authorize', opts.authorize) as HubOptions['authorize']
    this.#onConnection = readFunction('onConnection', opts.onConnection) as HubOptions['onConnection']
    this.#onDisconnection = readFunction(
      'onDisconnection',
      opts.onDisconnection,
    ) as HubOptions['onDisconnection']
    this.nodeId = opts.nodeId ?? createNodeId()
    this.#history =
      opts.history === undefined
        ? undefined
        : new HubHistory(opts.history, this.#codec, (error) => this.reportError(error))
    this.#features =
      this.#history === undefined
        ? this.#codec.features?.filter((feature) => feature !== 'resume')
        : this.#codec.features
    this.#idleTimeoutMs = readNonNegativeInteger('idleTimeoutMs', opts.idleTimeoutMs, 0)
    this.#maxConnections = readPositiveInteger('maxConnections', opts.maxConnections, DEFAULTS.maxConnections)
    this.maxSubscriptionsPerConnection = readPositiveInteger(
      'maxSubscriptionsPerConnection',
      opts.maxSubscriptionsPerConnection,
      DEFAULTS.maxSubscriptionsPerConnection,
    )
    this.maxPublishRate = readNonNegativeInteger(
      'maxPublishRatePerConnection',
      opts.maxPublishRatePerConnection,
      DEFAULTS.maxPublishRatePerConnection,
    )
    this.#handshakeTimeoutMs = readPositiveInteger(
      'handshakeTimeoutMs',
      opts.handshakeTimeoutMs,
      DEFAULTS.handshakeTimeoutMs,
    )
    this.#maxTotalSubscriptions = readPositiveInteger(
      'maxTotalSubscriptions',
      opts.maxTotalSubscriptions,
      DEFAULTS.maxTotalSubscriptions,
    )
    this.buffered = {
      maxBytes: readPositiveInteger(
        'maxTotalBufferedBytes',
        opts.maxTotalBufferedBytes,
        DEFAULTS.maxTotalBufferedBytes,
      ),
      usedBytes: 0,
      links: 0,
    }
    if (this.#idleTimeoutMs > 0) {
      this.#idleSweep = setInterval(() => this.#closeIdle(), Math.max(1, Math.floor(this.#idleTimeoutMs / 4)))
      ;(this.#idleSweep as { unref?: () => void }).unref?.()
    }
  }

  /** Delivers to the hub's own listeners and to every spoke interested in the type. */
  dispatchEvent(event: TEvent): boolean {
    if (!this.beginDispatch(event)) return false
    const peers = this.#interest.get(event.type)
    if (this.#history?.keeps(event.type)) {
      this.#dispatchKept(event, peers)
    } else if (peers !== undefined) {
      // Encode before any delivery: a detail that cannot be serialized reaches no one and throws here.
      const hops = eventHops(event)
      const id = eventId(event)
      const frame = this.#codec.event(event.type, this.nodeId, event.detail, hops, id)
      const key = this.#codec.runKey?.(event.type, this.nodeId, hops, id)
      for (const peer of peers) this.#sendEvent(peer, frame, key)
    }
    this.counters.delivered += this.registry.deliver(event)
    this.#tapped(event)
    return !event.defaultPrevented
  }

  /** `dispatchEvent` of a type with history: encoded first as always, then appended, then written. */
  #dispatchKept(event: TEvent, peers: Set<HubPeer<W>> | undefined): void {
    const hops = eventHops(event)
    const id = eventId(event)
    const frame =
      peers === undefined ? undefined : this.#codec.event(event.type, this.nodeId, event.detail, hops, id)
    const key = this.#codec.runKey?.(event.type, this.nodeId, hops, id)
    const position = this.#history!.append(event.type, this.nodeId, event.detail, hops, id, frame, key)
    if (peers !== undefined) this.#sendKept(peers, undefined, event.type, position, frame!, key)
  }

  /** Writes an event of a type with history to `peers` but `from`, with its position to those that resume. */
  #sendKept(
    peers: Set<HubPeer<W>>,
    from: HubPeer<W> | undefined,
    type: string,
    position: ReturnType<HubHistory<W>['append']>,
    frame: W,
    key: string | undefined,
  ): void {
    const history = this.#history!
    for (const peer of peers) {
      if (peer === from) continue
      const positions = peer.positions
      if (positions === undefined) this.#sendEvent(peer, frame, key)
      else if (history.write(peer, positions, type, position, frame, key)) this.counters.sent++
    }
  }

  /** Takes over a freshly opened link; the transport then feeds it through the returned connection. */
  accept(link: Link<W>, options: { principal?: TPrincipal } = {}): HubConnection<TPrincipal> {
    const info: HubConnectionInfo<TPrincipal> = Object.freeze({
      id: String(this.#nextPeerId++),
      principal: options.principal as TPrincipal,
    })
    const peer = this.#admit(link, info)
    if (peer.isGone) return peer as HubConnection<TPrincipal>
    peer.startHandshakeTimer(this.#handshakeTimeoutMs)
    this.#safely(() => this.#onConnection?.(info))
    return peer as HubConnection<TPrincipal>
  }

  /**
   * @internal Takes over a link whose handshake happened before this hub existed (a Durable Object that
   * wakes from hibernation with its sockets still open): no hello is awaited or written, and `types` are
   * subscribed at once without asking `authorize` again (each was allowed when its `sub` arrived). `id`
   * is kept when no other link has it, so that ids stay stable across restarts.
   */
  adopt(link: Link<W>, state: AdoptedLink<TPrincipal>): HubConnection<TPrincipal> {
    const wanted = state.id !== undefined && !this.#peers.has(state.id) ? state.id : undefined
    if (wanted !== undefined && /^[1-9][0-9]{0,15}$/.test(wanted)) {
      this.#nextPeerId = Math.max(this.#nextPeerId, Number(wanted) + 1)
    }
    const info: HubConnectionInfo<TPrincipal> = Object.freeze({
      id: wanted ?? String(this.#nextPeerId++),
      principal: state.principal as TPrincipal,
    })
    const peer = this.#admit(link, info)
    if (peer.isGone) return peer as HubConnection<TPrincipal>
    peer.resumed(state.runs === true)
    for (const type of state.types) this.subscribe(peer, type)
    this.#safely(() => this.#onConnection?.(info))
    return peer as HubConnection<TPrincipal>
  }

  /** @internal What a transport that keeps links across restarts stores about one (see `adopt`). */
  linkState(connection: HubConnection<TPrincipal>): {
    open: boolean
    greeted: boolean
    runs: boolean
    types: ReadonlySet<string>
  } {
    const peer = connection as unknown as HubPeer<W>
    return { open: !peer.isGone, greeted: peer.greeted, runs: peer.writer.runsEnabled, types: peer.types }
  }

  /**
   * @internal Told before a link's subscriptions change (`types` is its set before the change), for a
   * transport that keeps each link's interest outside the hub (a Durable Object's socket attachments).
   * An error refuses a `sub` with that error frame; an `unsub` applies whatever this returns.
   */
  protected interestChanging(
    _connection: HubConnection<TPrincipal>,
    _types: ReadonlySet<string>,
    _type: string,
    _isInterested: boolean,
  ): EventwireError | undefined {
    return undefined
  }

  /** Registers a new link, or refuses it (closed hub, too many links): then the peer is gone. */
  #admit(link: Link<W>, info: HubConnectionInfo<TPrincipal>): HubPeer<W> {
    const peer = new HubPeer<W>(this as Hub<TypedEvent, W>, link, info)
    if (this.isClosed) {
      link.close(CLOSE_GOING_AWAY, 'hub closed')
      peer.isGone = true
      return peer
    }
    if (this.#peers.size >= this.#maxConnections) {
      const error = new EventwireError(
        'ERR_LIMIT',
        `more than maxConnections (${this.#maxConnections}) links`,
      )
      this.counters.dropped++
      this.reportError(error)
      link.send(this.#codec.error(error.code, error.message))
      link.close(CLOSE_TRY_AGAIN_LATER, 'too many connections')
      peer.isGone = true
      return peer
    }
    this.#peers.set(info.id, peer)
    this.counters.connections++
    this.buffered.links = this.#peers.size
    return peer
  }

  /**
   * One accepted spoke as a target of its own, for per-client logic: `dispatchEvent` sends to that spoke
   * alone (if it listens to the type), and listeners hear only the events that spoke publishes.
   * Undefined once the link is gone.
   */
  connectionTarget(id: string): TypedEventTarget<TEvent> | undefined {
    const peer = this.#peers.get(id)
    if (peer === undefined) return undefined
    peer.target ??= new ConnectionTarget<TEvent, W>(this, peer)
    return peer.target as ConnectionTarget<TEvent, W>
  }

  /**
   * Writes what is queued toward each spoke now instead of at the end of the tick, then resolves. It
   * waits for nothing: a link whose platform buffer is full keeps its queue until it drains, and a hub
   * cannot know when a spoke has read or processed a frame (a spoke's `flush()`, a round trip, can).
   * Rejects with `ERR_CLOSED` once the hub is closed.
   */
  async flush(): Promise<void> {
    if (this.isClosed) throw new EventwireError('ERR_CLOSED', 'the hub is closed')
    for (const peer of this.#peers.values()) peer.writer.flush()
  }

  async close(): Promise<void> {
    if (this.isClosed) return
    this.isClosed = true
    if (this.#idleSweep !== undefined) clearInterval(this.#idleSweep)
    for (const peer of [...this.#peers.values()]) peer.close(CLOSE_GOING_AWAY, 'hub closed')
    const closed = new EventwireError('ERR_CLOSED', 'the hub is closed')
    for (const waiter of [...this.#subscriptionWaiters]) waiter.settle(closed)
    this.registry.clear()
    this.#pacer.clear()
    this.reportStatus({ type: 'closed' })
  }

  stats(): EventwireStats {
    return { ...this.counters, subscriptions: this.#interest.size }
  }

  /** The types some spoke currently subscribes to. */
  remoteTypes(): string[] {
    return [...this.#interest.keys()]
  }

  /**
   * Resolves once at least `count` spokes subscribe to `type` (at once if they already do), so that an
   * event dispatched after it reaches them all. Rejects with `ERR_TIMEOUT` after `timeoutMs`, and with
   * `ERR_CLOSED` when the hub closes first.
   */
  whenSubscribed(type: string, options: WhenSubscribedOptions = {}): Promise<void> {
    const count = readPositiveInteger('count', options.count, 1)
    const timeoutMs = readPositiveInteger('timeoutMs', options.timeoutMs, DEFAULTS.whenSubscribedTimeoutMs)
    if (this.isClosed) return Promise.reject(new EventwireError('ERR_CLOSED', 'the hub is closed'))
    if ((this.#interest.get(type)?.size ?? 0) >= count) return Promise.resolve()
    return new Promise((resolve, reject) => {
      const waiter = {
        type,
        count,
        settle: (error?: EventwireError) => {
          clearTimeout(timer)
          this.#subscriptionWaiters.delete(waiter)
          if (error === undefined) resolve()
          else reject(error)
        },
      }
      const timer = setTimeout(() => {
        const have = this.#interest.get(type)?.size ?? 0
        waiter.settle(
          new EventwireError(
            'ERR_TIMEOUT',
            `${have} of ${count} spokes subscribed to "${type}" within ${timeoutMs} ms`,
            {
              eventType: type,
            },
          ),
        )
      }, timeoutMs)
      this.#subscriptionWaiters.add(waiter)
    })
  }

  // --- called by HubPeer ---

  /** @internal */
  get codec(): FrameCodec<W> {
    return this.#codec
  }

  protected override eventType(type: unknown): string {
    return wireEventType(type, this.#codec.limits)
  }

  /** @internal */
  createWriter(peer: HubPeer<W>): LinkWriter<W> {
    return new LinkWriter(peer.link, this.#codec, {
      maxBufferedBytes: this.#maxBufferedBytes,
      overflow: this.#overflow,
      announceDrops: true,
      sharedBudget: this.buffered,
      sharedChunks: this.#chunks,
      ...this.writerReports(),
      onOverflowClose: (error) => {
        this.reportError(error)
        this.#sayBye(peer, CLOSE_TRY_AGAIN_LATER, 'overflow')
        peer.link.close(CLOSE_TRY_AGAIN_LATER, 'overflow')
        this.peerClosed(peer, { code: CLOSE_TRY_AGAIN_LATER, reason: 'overflow', error })
      },
    })
  }

  /**
   * @internal Reports a peer's error and counts the dropped input. At most 10 a second per link reach
   * `onError` and the link as error frames; the rest are counted only.
   */
  peerError(peer: HubPeer<W>, error: EventwireError, closeCode?: number): void {
    this.counters.dropped++
    if (peer.report(error) || closeCode !== undefined) {
      peer.writer.writeControl(this.#codec.error(error.code, error.message, error.eventType))
    }
    if (closeCode !== undefined) {
      // The bye tells a peer whose platform has no close signal (a MessagePort) that its link is gone.
      peer.writer.writeControl(this.#codec.bye(closeCode, error.code))
      peer.writer.flush()
      peer.link.close(closeCode, error.code)
      this.peerClosed(peer, { code: closeCode, reason: error.code, error })
    }
  }

  /**
   * @internal A link remembers `added` more (or fewer) authorization answers; true while the hub-wide
   * bound leaves room, false when the link must forget its own first.
   */
  rememberAnswers(added: number): boolean {
    if (added > 0 && this.#totalAuthAnswers + added > this.#maxTotalSubscriptions) return false
    this.#totalAuthAnswers += added
    return true
  }

  /** @internal */
  countDropped(): void {
    this.counters.dropped++
  }

  /** @internal */
  report(error: EventwireError): void {
    this.reportError(error)
  }

  /** @internal The hub was given an `authorize`. */
  get hasAuthorize(): boolean {
    return this.#authorize !== undefined
  }

  /** @internal */
  authorize(peer: HubPeer<W>, type: string, action: HubAction): boolean | Promise<boolean> {
    if (this.#authorize === undefined) return true
    try {
      return this.#authorize({ principal: peer.info.principal, type, action, connection: peer.info })
    } catch (cause) {
      this.reportError(new EventwireError('ERR_UNAUTHORIZED', 'authorize threw', { cause, eventType: type }))
      return false
    }
  }

  /** @internal */
  subscribe(peer: HubPeer<W>, type: string): void {
    if (peer.types.has(type)) return
    if (peer.types.size >= this.maxSubscriptionsPerConnection) {
      const limit = this.maxSubscriptionsPerConnection
      this.peerError(
        peer,
        new EventwireError('ERR_LIMIT', `more than ${limit} subscriptions`, { eventType: type }),
      )
      return
    }
    if (this.#totalSubscriptions >= this.#maxTotalSubscriptions) {
      const limit = this.#maxTotalSubscriptions
      this.peerError(
        peer,
        new EventwireError('ERR_LIMIT', `more than ${limit} subscriptions on this hub`, { eventType: type }),
      )
      return
    }
    const refused = this.interestChanging(peer as HubConnection<TPrincipal>, peer.types, type, true)
    if (refused !== undefined) {
      this.peerError(peer, refused)
      return
    }
    this.#totalSubscriptions++
    peer.types.add(type)
    let peers = this.#interest.get(type)
    if (peers === undefined) {
      peers = new Set()
      this.#interest.set(type, peers)
      if (!this.registry.has(type)) this.#announce(type, true)
    }
    peers.add(peer)
    for (const waiter of this.#subscriptionWaiters) {
      if (waiter.type === type && peers.size >= waiter.count) waiter.settle()
    }
  }

  /** @internal What this hub's hello lists. */
  get features(): readonly Feature[] | undefined {
    return this.#features
  }

  /** @internal A link's hello listed `resume`: positions go to it, if this hub keeps a history. */
  greet(peer: HubPeer<W>, nodeId: string): void {
    this.#history?.greet(peer, peer.origin, nodeId)
  }

  /**
   * @internal A resume frame, authorized: a sub, then, for a link that was not subscribed to the type,
   * the events it missed and the answer. Bounded like subs: at most `maxSubscriptionsPerConnection`
   * replays per link, and none for a type it already has (a flood of resume frames replays nothing).
   */
  resume(peer: HubPeer<W>, type: string, epoch: string, offset: number): void {
    if (peer.types.has(type)) return
    this.subscribe(peer, type)
    if (!peer.types.has(type)) return
    const positions = peer.positions
    if (positions === undefined || this.#history === undefined) {
      // A resume to a hub that did not offer it (a hostile or confused spoke): a plain sub.
      if (this.#codec.resumed !== undefined)
        peer.writer.writeControl(this.#codec.resumed(type, 'unavailable', 0))
      return
    }
    if (++positions.resumes > this.maxSubscriptionsPerConnection) {
      this.peerError(
        peer,
        new EventwireError('ERR_LIMIT', `more than ${this.maxSubscriptionsPerConnection} resumes`, {
          eventType: type,
        }),
      )
      peer.writer.writeControl(this.#codec.resumed!(type, 'unavailable', 0))
      return
    }
    this.#history.replay(peer, positions, type, epoch, offset, () => this.counters.sent++)
  }

  /** @internal */
  unsubscribe(peer: HubPeer<W>, type: string): void {
    if (!peer.types.has(type)) return
    this.interestChanging(peer as HubConnection<TPrincipal>, peer.types, type, false)
    peer.types.delete(type)
    if (peer.positions !== undefined) {
      peer.positions.last.delete(type)
      peer.positions.lastType = undefined
    }
    this.#dropInterest(peer, type)
  }

  #dropInterest(peer: HubPeer<W>, type: string): void {
    this.#totalSubscriptions--
    const peers = this.#interest.get(type)
    if (peers === undefined) return
    peers.delete(peer)
    if (peers.size > 0) return
    this.#interest.delete(type)
    if (!this.registry.has(type)) this.#announce(type, false)
  }

  /**
   * @internal An event from a spoke: forward to other interested spokes, then the hub's own listeners.
   * Its origin is the one the hub gave the link, never what the spoke wrote in the frame.
   */
  relay(from: HubPeer<W>, type: string, detail: unknown, hops: number, id: string | undefined): void {
    const origin = from.origin
    this.counters.received++
    // A bridged event that reached this hub by another path already: deliver it once.
    if (!isFirstSight(this, id)) return
    const peers = this.#interest.get(type)
    if (this.#history?.keeps(type)) {
      if (!this.#relayKept(from, peers, type, detail, hops, id)) return
    } else if (peers !== undefined && (peers.size > 1 || !peers.has(from))) {
      let frame: W
      try {
        frame = this.#codec.event(type, origin, detail, hops, id)
      } catch (error) {
        // A detail that decodes but cannot be encoded again (nested too deep): the sender learns it.
        this.peerError(from, error as EventwireError)
        return
      }
      const key = this.#codec.runKey?.(type, origin, hops, id)
      for (const peer of peers) if (peer !== from) this.#sendEvent(peer, frame, key)
    }
    if (!this.registry.has(type) && this.#taps.size === 0 && from.target === undefined) return
    const event = withHops(new CustomEvent(type, { detail }), hops, id)
    if (this.#pacer.admit(1) === 1) this.#deliverRelayed(event, from.target)
    else this.#pacer.push(event, from.target, 0, 1)
  }

  /** `relay` of a type with history: every event is appended, whoever listens now. False: refused. */
  #relayKept(
    from: HubPeer<W>,
    peers: Set<HubPeer<W>> | undefined,
    type: string,
    detail: unknown,
    hops: number,
    id: string | undefined,
  ): boolean {
    const origin = from.origin
    let frame: W | undefined
    let key: string | undefined
    if (peers !== undefined && (peers.size > 1 || !peers.has(from))) {
      try {
        frame = this.#codec.event(type, origin, detail, hops, id)
      } catch (error) {
        this.peerError(from, error as EventwireError)
        return false
      }
      key = this.#codec.runKey?.(type, origin, hops, id)
    }
    const position = this.#history!.append(type, origin, detail, hops, id, frame, key)
    if (frame !== undefined) this.#sendKept(peers!, from, type, position, frame, key)
    return true
  }

  #deliverRelayed(event: Event, target: ConnectionTarget<TypedEvent, W> | undefined): void {
    this.counters.delivered += this.registry.deliver(event)
    if (target !== undefined) this.counters.delivered += target.deliverFromSpoke(event)
    if (this.#taps.size > 0) this.#tapped(event)
  }

  /**
   * Sees every event that passes through the hub, from spokes and from its own `dispatchEvent`, after
   * its listeners. For bridges: a hub forwards by interest without listening to each type. Returns a
   * function that removes the tap.
   */
  tap(listener: (event: Event) => void): () => void {
    this.#taps.add(listener)
    return () => this.#taps.delete(listener)
  }

  /**
   * Calls `listener(type, true)` for each type some node of this hub's topology listens to (a spoke's
   * subscription or a listener on the hub itself), now and whenever a type gains its first such listener,
   * and `listener(type, false)` when it loses its last. Returns a function that stops the calls.
   */
  watchInterest(listener: (type: string, isInterested: boolean) => void): () => void {
    this.#interestWatchers.add(listener)
    const types = new Set([...this.#interest.keys(), ...this.registry.types()])
    // A hub wants every type it keeps a history of, listened to or not (see #announce).
    for (const type of this.#history?.listed ?? []) types.add(type)
    for (const type of types) listener(type, true)
    return () => this.#interestWatchers.delete(listener)
  }

  protected override interestChanged(type: string, isInterested: boolean): void {
    if (!this.#interest.has(type)) this.#announce(type, isInterested)
  }

  #announce(type: string, isInterested: boolean): void {
    // A type with history stays wanted when its last spoke leaves: a hub joined to others (scaleOut, a
    // bridge) must go on receiving it, or a spoke that comes back would be told it missed nothing while
    // the other hubs' events passed this one by.
    if (!isInterested && this.#history?.keeps(type)) return
    for (const watcher of this.#interestWatchers) this.#safely(() => watcher(type, isInterested))
  }

  #tapped(event: Event): void {
    for (const tap of this.#taps) this.#safely(() => tap(event))
  }

  /** @internal `dispatchEvent` of a connection target: to that one spoke, if it listens. */
  sendTo(peer: HubPeer<W>, event: Event): void {
    this.counters.dispatched++
    if (peer.isGone || !peer.types.has(event.type)) return
    const hops = eventHops(event)
    const id = eventId(event)
    const frame = this.#codec.event(event.type, this.nodeId, (event as CustomEvent).detail, hops, id)
    const key = this.#codec.runKey?.(event.type, this.nodeId, hops, id)
    // To one spoke alone, outside the history: it must not count it as the next offset.
    if (peer.positions !== undefined && this.#history!.keeps(event.type)) {
      if (this.#history!.write(peer, peer.positions, event.type, undefined, frame, key)) this.counters.sent++
      return
    }
    this.#sendEvent(peer, frame, key)
  }

  /** @internal */
  peerClosed(peer: HubPeer<W>, info: LinkCloseInfo): void {
    if (peer.isGone) return
    peer.isGone = true
    peer.stopHandshakeTimer()
    peer.writer.dispose()
    peer.forget()
    for (const type of peer.types) this.#dropInterest(peer, type)
    peer.types.clear()
    this.#peers.delete(peer.info.id)
    this.buffered.links = this.#peers.size
    this.counters.connections--
    this.#safely(() => this.#onDisconnection?.(peer.info, info))
  }

  #sendEvent(peer: HubPeer<W>, frame: W, runKey: string | undefined): void {
    if (peer.writer.writeEvent(frame, runKey)) this.counters.sent++
  }

  #closeIdle(): void {
    const deadline = Date.now() - this.#idleTimeoutMs
    for (const peer of [...this.#peers.values()]) {
      if (peer.lastReceivedAt >= deadline) continue
      const error = new EventwireError(
        'ERR_TIMEOUT',
        `connection ${peer.info.id} sent nothing for ${this.#idleTimeoutMs} ms`,
      )
      this.reportError(error)
      this.#sayBye(peer, CLOSE_HEARTBEAT_TIMEOUT, 'idle timeout')
      peer.link.close(CLOSE_HEARTBEAT_TIMEOUT, 'idle timeout')
      this.peerClosed(peer, { code: CLOSE_HEARTBEAT_TIMEOUT, reason: 'idle timeout', error })
    }
  }

  /**
   * A bye written straight to the link, past its queue (which is full or gone): a peer on a link with no
   * close signal (a MessagePort) learns that the hub closed it. Refused by a link already closed: fine.
   */
  #sayBye(peer: HubPeer<W>, code: number, reason: string): void {
    try {
      peer.link.send(this.#codec.bye(code, reason))
    } catch {
      // The link is gone; its close is what the peer sees.
    }
  }

  #safely(callback: () => void): void {
    try {
      callback()
    } catch (cause) {
      this.reportError(new EventwireError('ERR_LISTENER_THREW', 'a hub callback threw', { cause }))
    }
  }
}

/** One accepted link: decodes its frames in order and holds its subscriptions. */
class HubPeer<W> implements HubConnection {
  readonly hub: Hub<TypedEvent, W>
  readonly link: Link<W>
  readonly info: HubConnectionInfo
  readonly writer: LinkWriter<W>
  readonly types = new Set<string>()
  /**
   * The origin of every event this link publishes, chosen by the hub: a spoke cannot pose as another
   * node (and so keep an event from it, whose no-echo filter would drop it), whatever its frames say.
   */
  readonly origin = createNodeId()
  /** Set when the link's hello listed `resume` and the hub keeps a history (src/core/resume.ts). */
  positions: LinkPositions | undefined
  isGone = false
  lastReceivedAt = Date.now()
  /** Created on first use by `Hub.connectionTarget`. */
  target: ConnectionTarget<TypedEvent, W> | undefined
  #hasHello = false
  #handshakeTimer: ReturnType<typeof setTimeout> | undefined
  /** Publish tokens left (a bucket that refills at maxPublishRate per second, up to one second's worth). */
  #tokens = 0
  #tokensAt = 0
  #lastRateErrorAt = 0
  /** Frames waiting behind an asynchronous authorize, in arrival order, and the bytes they came in. */
  #backlog: Frame[] | undefined
  #backlogBytes = 0
  readonly #authorized = new Map<string, boolean>()
  /** Reports errors this link causes, at a bounded rate. */
  readonly report: (error: EventwireError) => boolean

  constructor(hub: Hub<TypedEvent, W>, link: Link<W>, info: HubConnectionInfo) {
    this.hub = hub
    this.link = link
    this.info = info
    this.writer = hub.createWriter(this)
    this.report = createPeerReporter((error) => hub.report(error))
  }

  /** The link is gone: give back what it held of the hub's budgets. */
  forget(): void {
    this.hub.rememberAnswers(-this.#authorized.size)
    this.#authorized.clear()
    this.#releaseBacklog()
    this.#backlog = undefined
  }

  receive(data: unknown): void {
    if (this.isGone) return
    this.lastReceivedAt = Date.now()
    const result = this.hub.codec.decode(data)
    if (!result.ok) {
      const fatal = result.error.code === 'ERR_FRAME_TOO_LARGE' ? CLOSE_TOO_LARGE : undefined
      this.hub.peerError(this, result.error, fatal)
      return
    }
    if (this.#backlog !== undefined) {
      if (
        this.#backlog.length + result.frames.length > MAX_BACKLOG_FRAMES ||
        !this.#holdBytes(messageBytes(data))
      ) {
        this.#backlogOverflow()
        return
      }
      for (const frame of result.frames) this.#backlog.push(frame)
      return
    }
    this.#process(result.frames, 0, data)
  }

  /** Counts `bytes` more waiting behind authorize; false (and the link closed) past a bound. */
  #holdBytes(bytes: number): boolean {
    const budget = this.hub.buffered
    if (this.#backlogBytes + bytes > this.hub.maxBacklogBytes || budget.usedBytes + bytes > budget.maxBytes) {
      this.#backlogOverflow()
      return false
    }
    this.#backlogBytes += bytes
    budget.usedBytes += bytes
    return true
  }

  #backlogOverflow(): void {
    if (this.isGone) return
    const error = new EventwireError('ERR_OVERFLOW', 'too much waiting for authorization or a schema check')
    this.hub.peerError(this, error, CLOSE_POLICY_VIOLATION)
  }

  #releaseBacklog(): void {
    this.hub.buffered.usedBytes -= this.#backlogBytes
    this.#backlogBytes = 0
  }

  closed(info: LinkCloseInfo = {}): void {
    this.hub.peerClosed(this, info)
  }

  lost(error: EventwireError): void {
    if (this.isGone) return
    this.hub.countDropped()
    this.hub.report(error)
  }

  close(code: number, reason: string): void {
    if (this.isGone) return
    this.writer.writeControl(this.hub.codec.bye(code, reason))
    this.writer.flush()
    this.link.close(code, reason)
    this.hub.peerClosed(this, { code, reason })
  }

  startHandshakeTimer(timeoutMs: number): void {
    this.#handshakeTimer = setTimeout(() => {
      if (this.#hasHello || this.isGone) return
      const error = new EventwireError('ERR_TIMEOUT', `no hello within ${timeoutMs} ms`)
      this.hub.peerError(this, error, CLOSE_POLICY_VIOLATION)
    }, timeoutMs)
    ;(this.#handshakeTimer as { unref?: () => void }).unref?.()
  }

  stopHandshakeTimer(): void {
    if (this.#handshakeTimer !== undefined) clearTimeout(this.#handshakeTimer)
    this.#handshakeTimer = undefined
  }

  /** Whether this link's hello has arrived. */
  get greeted(): boolean {
    return this.#hasHello
  }

  /** The handshake happened before this hub existed (`Hub.adopt`): the link is past its hello. */
  resumed(runs: boolean): void {
    this.#hasHello = true
    this.#tokens = this.hub.maxPublishRate
    this.#tokensAt = Date.now()
    if (runs && this.hub.codec.features?.includes('run')) this.writer.enableRuns()
  }

  /** Takes one publish token; false when the link publishes faster than maxPublishRatePerConnection. */
  #takeToken(): boolean {
    const rate = this.hub.maxPublishRate
    if (rate === 0) return true
    const now = Date.now()
    this.#tokens = Math.min(rate, this.#tokens + ((now - this.#tokensAt) * rate) / 1000)
    this.#tokensAt = now
    if (this.#tokens >= 1) {
      this.#tokens--
      return true
    }
    if (now - this.#lastRateErrorAt >= 1000) {
      this.#lastRateErrorAt = now
      this.hub.peerError(this, new EventwireError('ERR_LIMIT', `more than ${rate} events per second`))
    } else {
      this.hub.countDropped()
    }
    return false
  }

  drained(): void {
    this.writer.drained()
  }

  /** Applies frames in order; `data` is the message they came in, counted if they start a backlog. */
  #process(frames: Frame[], start: number, data?: unknown): void {
    for (let i = start; i < frames.length; i++) {
      if (this.isGone) return
      const frame = frames[i]!
      if (!this.#hasHello) {
        if (!this.#hello(frame)) return
        continue
      }
      // Without `authorize` every frame is allowed: no verdict to ask for or remember, per event.
      if (
        (frame.kind === 'event' || frame.kind === 'sub' || frame.kind === 'resume') &&
        this.hub.hasAuthorize
      ) {
        const action: HubAction = frame.kind === 'event' ? 'publish' : 'subscribe'
        const verdict = this.#verdict(frame.type, action)
        if (typeof verdict !== 'boolean') {
          this.#backlog = frames.slice(i)
          verdict.then(
            (allowed) => this.#resume(frame.type, action, allowed),
            (cause) => this.#resume(frame.type, action, false, cause),
          )
          // What waits is the rest of this message: count it as the message's size.
          if (data !== undefined) this.#holdBytes(messageBytes(data))
          return
        }
        if (!verdict) {
          this.#refuse(frame.type, action)
          continue
        }
      }
      // Without schemas nothing is checked: one field read per frame.
      if (frame.kind === 'event' && this.hub.checkReceived !== undefined) {
        const invalid = this.hub.checkReceived(frame.type, frame.detail)
        if (invalid !== undefined) {
          if (!(invalid instanceof Promise)) {
            this.hub.peerError(this, invalid)
            continue
          }
          // A schema answering later holds the rest of this link's frames, in the authorize backlog.
          this.#backlog = frames.slice(i + 1)
          invalid.then((error) => this.#checked(frame, error))
          if (data !== undefined) this.#holdBytes(messageBytes(data))
          return
        }
      }
      this.#apply(frame)
    }
  }

  /** A schema answered for `frame`, which held the frames behind it: apply or refuse it, then go on. */
  #checked(frame: Frame, error: EventwireError | undefined): void {
    const backlog = this.#backlog ?? []
    this.#backlog = undefined
    this.#releaseBacklog()
    if (this.isGone) return
    if (error === undefined) this.#apply(frame)
    else this.hub.peerError(this, error)
    this.#process(backlog, 0)
  }

  #resume(type: string, action: HubAction, allowed: boolean, cause?: unknown): void {
    if (cause !== undefined) {
      this.hub.peerError(
        this,
        new EventwireError('ERR_UNAUTHORIZED', 'authorize rejected', { cause, eventType: type }),
      )
    }
    this.#remember(type, action, allowed === true)
    const backlog = this.#backlog ?? []
    this.#backlog = undefined
    this.#releaseBacklog()
    this.#process(backlog, 0)
  }

  #verdict(type: string, action: HubAction): boolean | Promise<boolean> {
    const known = this.#authorized.get(action + type)
    if (known !== undefined) return known
    const verdict = this.hub.authorize(this, type, action)
    if (verdict instanceof Promise) return verdict
    this.#remember(type, action, verdict === true)
    return verdict === true
  }

  #remember(type: string, action: HubAction, allowed: boolean): void {
    if (this.isGone) return
    const key = action + type
    if (this.#authorized.has(key)) {
      this.#authorized.set(key, allowed)
      return
    }
    if (this.#authorized.size >= MAX_AUTH_CACHE || !this.hub.rememberAnswers(1)) {
      // Full, here or hub-wide: forget this link's answers (they are asked again when needed).
      this.hub.rememberAnswers(-this.#authorized.size)
      this.#authorized.clear()
      if (!this.hub.rememberAnswers(1)) return
    }
    this.#authorized.set(key, allowed)
  }

  #refuse(type: string, action: HubAction): void {
    const error = new EventwireError('ERR_UNAUTHORIZED', `not allowed to ${action} "${type}"`, {
      eventType: type,
    })
    this.hub.peerError(this, error)
  }

  #hello(frame: Frame): boolean {
    if (frame.kind !== 'hello') {
      this.hub.peerError(
        this,
        new EventwireError('ERR_FRAME_MALFORMED', 'the first frame must be a hello'),
        CLOSE_PROTOCOL_ERROR,
      )
      return false
    }
    if (frame.version !== PROTOCOL_VERSION) {
      const error = new EventwireError(
        'ERR_PROTOCOL_VERSION',
        `protocol version ${frame.version} is not supported (hub speaks ${PROTOCOL_VERSION})`,
      )
      this.hub.peerError(this, error, CLOSE_PROTOCOL_ERROR)
      return false
    }
    this.#hasHello = true
    this.stopHandshakeTimer()
    this.#tokens = this.hub.maxPublishRate
    this.#tokensAt = Date.now()
    this.writer.writeControl(this.hub.codec.hello(this.hub.nodeId, 'hub', this.hub.features))
    if (frame.features?.includes('run') && this.hub.codec.features?.includes('run')) this.writer.enableRuns()
    if (frame.features?.includes('resume') && this.hub.features?.includes('resume')) {
      this.hub.greet(this, frame.nodeId)
    }
    return true
  }

  #apply(frame: Frame): void {
    switch (frame.kind) {
      case 'event':
        if (this.#takeToken()) this.hub.relay(this, frame.type, frame.detail, frame.hops, frame.id)
        return
      case 'sub':
        this.hub.subscribe(this, frame.type)
        return
      case 'resume':
        this.hub.resume(this, frame.type, frame.epoch, frame.offset)
        return
      case 'position':
      case 'resumed':
        this.hub.peerError(
          this,
          new EventwireError('ERR_FRAME_MALFORMED', `a spoke does not send ${frame.kind} frames`),
        )
        return
      case 'unsub':
        this.hub.unsubscribe(this, frame.type)
        return
      case 'ping':
        this.writer.writeControl(this.hub.codec.pong(frame.id))
        return
      case 'pong':
        return
      case 'hello':
        this.hub.peerError(this, new EventwireError('ERR_FRAME_MALFORMED', 'hello sent twice'))
        return
      case 'error':
        // What a spoke says is its own word: reported as ERR_REMOTE, bounded, never as the hub's error.
        this.report(remoteError(`spoke ${this.info.id}`, frame.code, frame.message, frame.eventType))
        return
      case 'bye':
        // The spoke is leaving on purpose: drop its interest now, not when the platform notices. Our
        // side closes normally: the code the spoke gave is reported, never handed to the platform (web
        // sockets throw on codes outside 1000 and 3000-4999).
        this.writer.dispose()
        this.link.close(CLOSE_NORMAL, 'bye')
        this.hub.peerClosed(this, { code: frame.code, reason: frame.reason })
        return
    }
  }
}

/** One spoke seen from the hub (`Hub.connectionTarget`). */
class ConnectionTarget<TEvent extends TypedEvent, W> extends RegistryEventTarget<TEvent> {
  readonly #hub: Hub<TEvent, W>
  readonly #peer: HubPeer<W>
  protected readonly reportError: ErrorSink

  constructor(hub: Hub<TEvent, W>, peer: HubPeer<W>) {
    super()
    this.#hub = hub
    this.#peer = peer
    this.reportError = (error) => hub.report(error)
  }

  /** Sends the event to this spoke alone; it is not delivered to listeners here. */
  dispatchEvent(event: TEvent): boolean {
    assertEvent(event)
    this.#hub.sendTo(this.#peer, event)
    return !event.defaultPrevented
  }

  /** @internal An event this spoke published. */
  deliverFromSpoke(event: Event): number {
    return this.registry.deliver(event)
  }
}
