/**
 * What bench/realistic.ts and its child processes and workers share: the event detail, the event types,
 * the flow control (a window of events in flight, acknowledged by the receiver over the same path as the
 * data) and the messages of the control channels. Not a benchmark itself (bench/index.ts runs only the
 * files directly in bench/).
 */
import type { MessagePort } from 'node:worker_threads'

/** Which side of a comparison runs: ours with default options, the naive raw loop, or the batched one. */
export type Variant = 'ours' | 'naive' | 'batched'

/** The WebSocket paths' contenders: the three variants, and Socket.IO as the peer users replace. */
export type SpokeVariant = Variant | 'socketio'

/**
 * The contenders of the Redis path: ours, the peer users replace (`@graphql-yoga/redis-event-target`),
 * and the naive and batched raw ioredis loops.
 */
export type RedisVariant = Variant | 'yoga'

/** The contenders of the worker path: the three variants, and Comlink as the peer users replace. */
export type WorkerVariant = Variant | 'comlink'

/**
 * The Redis channel of `type` for one variant: every variant of the Redis path shares one redis-server,
 * so each has channels of its own (ours through its `prefix` option, the others by name).
 */
export const redisChannel = (variant: RedisVariant, type: string): string => `${variant}:${type}`

/** A NATS subject of one variant: each variant of the NATS path has subjects of its own on one server. */
export const natsSubject = (variant: Variant, type: string): string => `${variant}.${type}`

/** Events sent per turn of the event loop, and how many the receiver takes before it acknowledges. */
export const CHUNK = 100
/** Most events sent and not yet acknowledged by every receiver. */
export const IN_FLIGHT = 1_000
/** Events per `postMessage` of the batched raw worker variant. */
export const WORKER_BATCH = 16

/** Events the hub (or the main thread) sends to the spokes (or the worker). */
export const DOWN = 'down'
/** Events a spoke sends to the hub. */
export const UP = 'up'
/** Acknowledgements of `down` events, from the receiving spoke or worker. */
export const ACK_DOWN = 'ack-down'
/** Acknowledgements of `up` events, from the hub. */
export const ACK_UP = 'ack-up'

/** 100 characters of text in every detail. */
export const TEXT =
  'The quick brown fox jumps over the lazy dog; pack my box with five dozen liquor jugs. 0123456789abcd'

/** The event detail: a JSON envelope of about 200 bytes, a new object for every event. */
export interface Detail {
  type: string
  id: string
  payload: { n: number; s: string; ts: number }
}

export function detailOf(type: string, n: number): Detail {
  return { type, id: crypto.randomUUID(), payload: { n, s: TEXT, ts: Date.now() } }
}

/**
 * What a receiver sends back: its index among the receivers, how many events it has, and when the last
 * one reached it (`nowMicros`, for latency).
 */
export interface Ack {
  type: typeof ACK_DOWN | typeof ACK_UP
  receiver: number
  count: number
  at: number
}

/**
 * The monotonic clock, µs. Every thread of a process reads the same one, and on Linux so does every
 * process (CLOCK_MONOTONIC): bench/realistic.ts checks that before it compares stamps of two processes.
 */
export const nowMicros = (): number => Number(process.hrtime.bigint()) / 1_000

/** Resolves in the next turn of the event loop, after pending I/O. */
export const nextTask = (): Promise<void> => new Promise((resolve) => setImmediate(resolve))

/**
 * Checks what one receiver gets: every event, in order (`payload.n` counts up from 0), and calls `ack`
 * every `ackEvery` events.
 */
export class Receiver {
  count = 0
  readonly #index: number
  readonly #ackEvery: number
  readonly #ack: (ack: Ack) => void
  readonly #ackType: Ack['type']
  readonly #fail: (message: string) => void

  constructor(
    index: number,
    ackType: Ack['type'],
    ackEvery: number,
    ack: (ack: Ack) => void,
    fail: (message: string) => void,
  ) {
    this.#index = index
    this.#ackType = ackType
    this.#ackEvery = ackEvery
    this.#ack = ack
    this.#fail = fail
  }

  take(detail: Detail): void {
    if (detail?.payload?.n !== this.count || typeof detail.id !== 'string') {
      this.#fail(`receiver ${this.#index} got n = ${detail?.payload?.n}, expected ${this.count}`)
    }
    this.count++
    if (this.count % this.#ackEvery === 0) {
      this.#ack({ type: this.#ackType, receiver: this.#index, count: this.count, at: nowMicros() })
    }
  }
}

/**
 * The sender's side of the flow control: events sent, and the acknowledgements of each receiver. The
 * sender may send while fewer than IN_FLIGHT events are unacknowledged by the slowest receiver.
 */
export class Flow {
  sent = 0
  readonly #acked: number[]
  #slowest = 0
  /** Receivers whose count is `#slowest`. */
  #atSlowest: number
  #wake: (() => void) | undefined
  #failure: Error | undefined
  #reject: ((error: Error) => void) | undefined

  constructor(receivers: number) {
    this.#acked = new Array<number>(receivers).fill(0)
    this.#atSlowest = receivers
  }

  /** Events every receiver has acknowledged. */
  get acked(): number {
    return this.#slowest
  }

  /** An acknowledgement arrived; it must be for more events than before and no more than were sent. */
  ack(receiver: number, count: number): void {
    const before = this.#acked[receiver]
    if (before === undefined || !(count > before && count <= this.sent)) {
      this.fail(new Error(`receiver ${receiver} acknowledged ${count} after ${before}, of ${this.sent} sent`))
      return
    }
    this.#acked[receiver] = count
    if (before === this.#slowest && --this.#atSlowest === 0) {
      this.#slowest = Math.min(...this.#acked)
      this.#atSlowest = this.#acked.filter((value) => value === this.#slowest).length
    }
    const wake = this.#wake
    this.#wake = undefined
    this.#reject = undefined
    wake?.()
  }

  /** Resolves at the next acknowledgement; rejects once the flow failed. */
  nextAck(): Promise<void> {
    if (this.#failure !== undefined) return Promise.reject(this.#failure)
    return new Promise((resolve, reject) => {
      this.#wake = resolve
      this.#reject = reject
    })
  }

  fail(error: Error): void {
    this.#failure ??= error
    this.#reject?.(this.#failure)
    this.#wake = undefined
    this.#reject = undefined
  }

  check(): void {
    if (this.#failure !== undefined) throw this.#failure
  }
}

/**
 * Sends CHUNK events per turn of the event loop, at most IN_FLIGHT unacknowledged, for at least `ms` and
 * at least `minEvents`; then waits until every receiver has acknowledged everything. `send(first, count)`
 * sends events `first` to `first + count - 1`. Returns the events sent and the ms it took, the wait
 * included. Fails the flow when nothing moves for 30 s.
 */
export async function pump(
  flow: Flow,
  send: (first: number, count: number) => void,
  ms: number,
  minEvents = 0,
): Promise<{ events: number; ms: number }> {
  const first = flow.sent
  const start = performance.now()
  let lastAcked = flow.acked
  const watchdog = setInterval(() => {
    if (flow.acked === lastAcked) flow.fail(new Error(`no acknowledgement for 30 s, at ${flow.acked}`))
    lastAcked = flow.acked
  }, 30_000)
  try {
    while (performance.now() - start < ms || flow.sent - first < minEvents) {
      flow.check()
      if (flow.sent + CHUNK - flow.acked > IN_FLIGHT) {
        await flow.nextAck()
        continue
      }
      send(flow.sent, CHUNK)
      flow.sent += CHUNK
      await nextTask()
    }
    while (flow.acked < flow.sent) await flow.nextAck()
  } finally {
    clearInterval(watchdog)
  }
  return { events: flow.sent - first, ms: performance.now() - start }
}

/** Messages to the spokes' process (bench/support/realistic-spokes.ts) on its IPC channel. */
export type ToSpokes =
  /** Spoke 0 sends `up` events with the flow control for at least `ms` and `minEvents`. */
  | { type: 'pump'; ms: number; minEvents: number }
  /** Spoke 0 sends one `up` event and waits for its acknowledgement (a latency sample). */
  | { type: 'sample' }
  | { type: 'clock' }
  | { type: 'usage' }
  | { type: 'counts' }
  | { type: 'close' }

export type FromSpokes =
  | { type: 'ready' }
  | { type: 'pumped'; events: number; ms: number }
  /** µs: from the send to the hub's listener (the hub's stamp), and the round trip. */
  | { type: 'sample'; oneWay: number; roundTrip: number }
  | { type: 'clock'; at: number }
  /**
   * What the process has used so far: its event loop's busy and idle ms
   * (`performance.eventLoopUtilization()`) and its CPU time in µs (user and system).
   */
  | { type: 'usage'; active: number; idle: number; cpu: number }
  /** Events of `down` each spoke has, and `up` events spoke 0 sent. */
  | { type: 'counts'; counts: number[]; sent: number }
  | { type: 'error'; message: string }

/** Messages between bench/realistic.ts and a worker (bench/support/realistic-worker.ts), on a control port. */
export type ToWorker = { type: 'counts' }
export type FromWorker =
  | { type: 'started' }
  | { type: 'counts'; count: number }
  | { type: 'error'; message: string }

/** What a worker gets as `workerData`. */
export interface WorkerSetup {
  variant: WorkerVariant
  /** Acknowledge every this many events (1 for latency). */
  ackEvery: number
  control: MessagePort
}
