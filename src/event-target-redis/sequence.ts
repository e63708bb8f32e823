import { EventwireError } from '../core/errors.js'

/**
 * Sequence numbers of the frames on the Redis channels, on both ends. Redis can hand a receiver the same
 * event twice (ioredis resends a PUBLISH whose answer a broken connection lost, and on a Cluster the
 * target publishes a refused batch again) or late, and delivering either would break at-most-once or
 * per-dispatcher order. Every event frame therefore carries its sender's sequence number, and a receiver
 * delivers it only if it is above the last one seen from that origin on that type. This module is the
 * numbering, the window that bounds what a forged number can silence, the memory bounds, and the
 * rate-limited `ERR_SEQUENCE` reports; the target decides what a dropped frame costs (the counters).
 */

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

export class SequenceTracker {
  /**
   * The last sequence number sent. It starts from the wall clock in µs, so a node restarted with the same
   * `nodeId` continues above what it sent before, unless it had sent more events than µs had passed
   * (over a million a second on average).
   */
  #sent = nowMicros()
  /** type -> origin -> the highest sequence number received from it. */
  readonly #lastSequence = new Map<string, Map<string, number>>()
  #trackedSequences = 0
  /** origin -> events dropped by the sequence check, for the reports. */
  readonly #drops = new Map<string, number>()
  /** Reports at a bounded rate (shared with the target's other reports about what peers send). */
  readonly #reportAnomaly: (error: EventwireError) => boolean

  constructor(reportAnomaly: (error: EventwireError) => boolean) {
    this.#reportAnomaly = reportAnomaly
  }

  /**
   * The number for the next event sent: at least the clock in µs, so a forged number ahead of it is
   * overtaken within SEQUENCE_WINDOW. It counts as used only once `sent` records it.
   */
  next(): number {
    return Math.max(this.#sent + 1, nowMicros())
  }

  /** Records `seq` (from `next()`) as sent: its frame has been encoded and queued. */
  sent(seq: number): void {
    this.#sent = seq
  }

  /**
   * Records `seq` as the latest from `origin` on `type`; false when it is not above the last one. Past
   * MAX_TRACKED_SEQUENCES pairs, the type tracked longest is forgotten: its next event is taken as new,
   * which costs only the protection, never an event.
   */
  isNewer(origin: string, type: string, seq: number): boolean {
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
  dropped(origin: string, type: string): void {
    const count = (this.#drops.get(origin) ?? 0) + 1
    if (count === 1 && this.#drops.size >= MAX_COUNTED_ORIGINS) this.#drops.clear()
    this.#drops.set(origin, count)
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
}

/** Wall-clock time in µs, monotonic within the process. */
function nowMicros(): number {
  return Math.floor((performance.timeOrigin + performance.now()) * 1000)
}
