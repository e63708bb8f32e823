import type { TypedEvent } from '../src/index.js'

/** A node of the demo topology. `off` says why a part that is not running is off. */
export interface DemoNode {
  id: string
  kind: 'hub' | 'spoke' | 'broker'
  label: string
  detail: string
  off?: string
}

/** What crossed an edge during the last `windowMs`, both ways, and how late (`latencyMs` over `timed`). */
export interface EdgeSample {
  count: number
  latencyMs: number
  timed: number
  windowMs: number
}

/** An edge of the demo topology, from the spoke side to the hub side, with its transport. */
export interface DemoEdge extends EdgeSample {
  from: string
  to: string
  transport: string
  off: boolean
}

/** The topology as the hub sees it, sent to the pages every second. */
export interface DemoTopology {
  source: string
  sentAt: number
  nodes: DemoNode[]
  edges: DemoEdge[]
  /** What is off and why, one line each. */
  off: Array<{ part: string; reason: string }>
}

/** Every event of the demo topology: who sent it and when, so each node can show latency. */
export type DemoEvent =
  | TypedEvent<'tick', { source: string; sentAt: number }>
  | TypedEvent<
      'reading',
      // `ticks` and `tickLatencyMs` add up the hub's ticks this worker received, and how late they came.
      { source: string; value: number; ticks: number; tickLatencyMs: number; sentAt: number }
    >
  | TypedEvent<'chat', { source: string; text: string; sentAt: number }>
  | TypedEvent<'browser', { source: string; sentAt: number }>
  | TypedEvent<'topology', DemoTopology>

/**
 * Counts the events that cross one edge over a sliding window of one-second buckets, and how long after
 * their dispatch they arrived. The hub and the page both measure with it.
 */
export class EdgeMeter {
  readonly #buckets: EdgeSample[] = []
  readonly #keep: number
  #open: EdgeSample
  #since: number

  constructor(keep = 3, now = Date.now()) {
    this.#keep = keep
    this.#since = now
    this.#open = { count: 0, latencyMs: 0, timed: 0, windowMs: 0 }
  }

  /** One event dispatched at `sentAt` (epoch ms) arrived now. */
  arrived(sentAt: number, now = Date.now()): void {
    this.#open.count++
    this.time(now - sentAt)
  }

  /** Events that crossed without a time (counted elsewhere, such as by a bridge). */
  count(events: number): void {
    this.#open.count += events
  }

  /** A latency measured for an event counted with `count`. */
  time(latencyMs: number, events = 1): void {
    this.#open.latencyMs += Math.max(0, latencyMs)
    this.#open.timed += events
  }

  /** Closes the current bucket and returns the sum of the last `keep` ones. */
  roll(now = Date.now()): EdgeSample {
    this.#open.windowMs = now - this.#since
    this.#buckets.push(this.#open)
    if (this.#buckets.length > this.#keep) this.#buckets.shift()
    this.#open = { count: 0, latencyMs: 0, timed: 0, windowMs: 0 }
    this.#since = now
    return this.#buckets.reduce(
      (sum, bucket) => ({
        count: sum.count + bucket.count,
        latencyMs: sum.latencyMs + bucket.latencyMs,
        timed: sum.timed + bucket.timed,
        windowMs: sum.windowMs + bucket.windowMs,
      }),
      { count: 0, latencyMs: 0, timed: 0, windowMs: 0 },
    )
  }
}
