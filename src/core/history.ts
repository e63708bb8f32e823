import { DEFAULTS } from './defaults.js'
import { invalidOption } from './errors.js'
import { DEFAULT_FRAME_LIMITS } from './frame.js'
import {
  checkEpoch,
  checkLimit,
  checkOffset,
  checkRecord,
  checkType,
  clockOption,
  positiveOption,
} from './history-checks.js'
import { createNodeId } from './link.js'

/**
 * History: per event type, a bounded, ordered record of recent events, so that a node that was away can
 * be given what it missed (docs/recovery.md). Each entry of a type gets the next **offset** (1, 2, 3, …);
 * the **epoch** names one unbroken run of offsets, and changes whenever the record may have lost entries
 * without the offsets showing it (a restarted in-memory history, a deleted or restarted Redis stream).
 * A reader keeps (epoch, offset of the last entry it got) per type and asks `since` for the rest.
 *
 * Transport-neutral: no platform imports, so it runs wherever the core runs.
 */

/**
 * A value, or a promise of it. The in-memory store answers synchronously, so a hub that appends every
 * event it routes pays no promise, no microtask and no allocation beyond the entry; the Redis store
 * answers with promises. A caller that must handle both checks `instanceof Promise` once per call.
 */
export type MaybePromise<T> = T | Promise<T>

/** Where a type's history stands: its epoch and the offset of its last entry (0 before the first). */
export interface HistoryPosition {
  readonly epoch: string
  readonly offset: number
}

/** What `append` records: what a hub needs to replay the event as it first went out. */
export interface HistoryRecord {
  /** The node id of the event's dispatcher (the frame's `origin`). */
  readonly origin: string
  /**
   * The detail as encoded text, as the hub already has it for its frames, so a replay needs no second
   * encoding. The store keeps it as it is and never parses it. The Redis store needs it (or `detail`,
   * which it then encodes as JSON).
   */
  readonly text?: string | undefined
  /** The detail as a value, for a hub whose links carry values (structured clone). Kept in memory only. */
  readonly detail?: unknown
  /** Bridges the event has crossed (0 when left out). */
  readonly hops?: number | undefined
  /** The identity a bridge gave the event, if any. */
  readonly id?: string | undefined
  /** When it was recorded, in ms since 1970; the store's clock when left out. Bounds its age. */
  readonly time?: number | undefined
}

/** One recorded event, as `since` gives it back. */
export interface HistoryEntry extends HistoryPosition {
  readonly type: string
  readonly origin: string
  readonly text: string | undefined
  readonly detail: unknown
  readonly hops: number
  readonly id: string | undefined
  readonly time: number
}

/**
 * Why a reader cannot be given everything after its offset:
 * - `epoch`: its epoch is not the history's (the history restarted, or lost entries it cannot count);
 * - `too-old`: entries right after its offset were trimmed (by count, by age or by the memory bound);
 * - `ahead`: its offset is beyond the last one of this epoch, which only a history that lost its newest
 *   entries without a new epoch (a Redis restored from an older snapshot) or a forged position gives.
 */
export type HistoryLossReason = 'epoch' | 'too-old' | 'ahead'

/**
 * The answer to `since`. Recovered: the entries after the reader's offset, in order, at most `limit` of
 * them; when the last one is below `latest.offset`, ask again from it. Not recovered: the reader must
 * treat everything before `latest` as lost (a `gap`) and go on from `latest`.
 */
export type HistorySince =
  | { readonly recovered: true; readonly entries: readonly HistoryEntry[]; readonly latest: HistoryPosition }
  | { readonly recovered: false; readonly reason: HistoryLossReason; readonly latest: HistoryPosition }

export interface HistorySinceOptions {
  /** Entries returned at most (default 1,000); the rest is read by calling again. */
  readonly limit?: number
}

/**
 * A history of events per type. Arguments that are wrong (a type, epoch or offset of the wrong type or
 * out of range) throw `EventwireError` with `ERR_INVALID_OPTION` at once, on every store, before any
 * work; a store that answers with promises rejects them with `EventwireError` too.
 */
export interface HistoryStore {
  /** Records an event of `type`; answers its position (the new offset, in the type's epoch). */
  append(type: string, record: HistoryRecord): MaybePromise<HistoryPosition>
  /** The entries of `type` after `offset` in `epoch`, or why they cannot be given. */
  since(
    type: string,
    epoch: string,
    offset: number,
    options?: HistorySinceOptions,
  ): MaybePromise<HistorySince>
  /** The position of `type` now: where a reader that has seen nothing yet starts. */
  latest(type: string): MaybePromise<HistoryPosition>
}

export interface MemoryHistoryOptions {
  /** Entries kept per type; the oldest is trimmed past it. @default 1_000 */
  readonly maxEvents?: number
  /** An entry older than this (by its `time`) is trimmed and never replayed; `Infinity` keeps them. @default 300_000 */
  readonly maxAgeMs?: number
  /** Entries kept across all types; the oldest of all is trimmed past it. @default 100_000 */
  readonly maxTotalEvents?: number
  /** Estimated bytes kept across all types; the oldest of all is trimmed past it. @default 64 MiB */
  readonly maxTotalBytes?: number
  /**
   * Types whose position is kept. Past it, about the least recently appended type is forgotten, and
   * every position handed out before then for a type the history does not hold changes epoch.
   * @default 10_000
   */
  readonly maxTypes?: number
  /** Longest type accepted, as the hub's `limits.maxTypeLength`. @default 256 */
  readonly maxTypeLength?: number
  /**
   * Estimated bytes of one entry. By default: 96 plus 2 per character of `text` and `id`. A `detail` value
   * is not measured: give this when entries hold values and the byte bound matters.
   */
  readonly sizeOf?: (record: HistoryRecord) => number
  /** The clock, in ms since 1970 (tests pass a fake one). @default Date.now */
  readonly now?: () => number
}

/** Estimated cost of an entry beyond its strings: the object, its slots in two arrays. */
const ENTRY_BYTES = 96
/** Types looked at to choose one to forget: bounded work per new type. */
const EVICTION_SAMPLE = 16
/** Expired entries removed across all types per append: bounded work, amortized over appends. */
const EXPIRE_PER_APPEND = 8

/** One stored event. `trimmed` lets the all-types order skip entries its type already let go. */
class StoredEntry implements HistoryEntry {
  trimmed = false
  constructor(
    readonly epoch: string,
    readonly offset: number,
    readonly type: string,
    readonly origin: string,
    readonly text: string | undefined,
    readonly detail: unknown,
    readonly hops: number,
    readonly id: string | undefined,
    readonly time: number,
    readonly bytes: number,
  ) {}
}

/** One type's entries, oldest first: `entries[head]` has the lowest offset kept, and offsets are contiguous. */
class TypeLog {
  entries: Array<StoredEntry | undefined> = []
  head = 0
  /** Offset of the last entry appended (0 before the first). */
  last = 0
  lastTime = Number.NEGATIVE_INFINITY

  constructor(
    readonly type: string,
    readonly epoch: string,
  ) {}

  get size(): number {
    return this.entries.length - this.head
  }

  /** The index of the entry at `offset` in `entries`, or -1 when it is not kept. */
  indexOf(offset: number): number {
    const first = this.entries[this.head]
    if (first === undefined || offset < first.offset || offset > this.last) return -1
    return this.head + (offset - first.offset)
  }
}

/**
 * A `HistoryStore` in memory, synchronous. Its epochs are random per instance, so a process that restarts
 * hands out new ones and every old position answers `epoch`. Bounded by count and age per type, and by
 * count, estimated bytes and number of types in all; past a bound the oldest entries go first, and a
 * later `since` from before them answers `too-old`.
 */
export class MemoryHistory implements HistoryStore {
  readonly #maxEvents: number
  readonly #maxAgeMs: number
  readonly #maxTotalEvents: number
  readonly #maxTotalBytes: number
  readonly #maxTypes: number
  readonly #maxTypeLength: number
  readonly #sizeOf: ((record: HistoryRecord) => number) | undefined
  readonly #now: () => number
  readonly #id = createNodeId()
  /** Bumped when a type is forgotten: positions of types the history does not hold change epoch. */
  #generation = 0
  #freshEpoch: string
  readonly #logs = new Map<string, TypeLog>()
  /** Every entry in the order appended, across types (with entries already trimmed, skipped lazily). */
  #order: Array<StoredEntry | undefined> = []
  #orderHead = 0
  #totalEvents = 0
  #totalBytes = 0

  constructor(options: MemoryHistoryOptions = {}) {
    if (typeof options !== 'object' || options === null) invalidOption('options', 'an object', options)
    this.#maxEvents = positiveOption('maxEvents', options.maxEvents, DEFAULTS.historyMaxEvents)
    this.#maxAgeMs = positiveOption('maxAgeMs', options.maxAgeMs, DEFAULTS.historyMaxAgeMs, true)
    this.#maxTotalEvents = positiveOption(
      'maxTotalEvents',
      options.maxTotalEvents,
      DEFAULTS.historyMaxTotalEvents,
    )
    this.#maxTotalBytes = positiveOption(
      'maxTotalBytes',
      options.maxTotalBytes,
      DEFAULTS.historyMaxTotalBytes,
    )
    this.#maxTypes = positiveOption('maxTypes', options.maxTypes, DEFAULTS.historyMaxTypes)
    this.#maxTypeLength = positiveOption(
      'maxTypeLength',
      options.maxTypeLength,
      DEFAULT_FRAME_LIMITS.maxTypeLength,
    )
    if (options.sizeOf !== undefined && typeof options.sizeOf !== 'function') {
      invalidOption('sizeOf', 'a function', options.sizeOf)
    }
    this.#sizeOf = options.sizeOf
    this.#now = clockOption(options.now)
    this.#freshEpoch = this.#epoch()
  }

  /**
   * Records an event; answers the stored entry, which is its position. Synchronous, O(1) amortized: the
   * trimming it does is of entries appended before, each trimmed once.
   */
  append(type: string, record: HistoryRecord): HistoryEntry {
    checkType(type, this.#maxTypeLength)
    checkRecord(record)
    const now = this.#now()
    const time = record.time ?? now
    const log = this.#logs.get(type) ?? this.#create(type)
    const text = record.text
    const bytes = this.#measure(record, text)
    const entry = new StoredEntry(
      log.epoch,
      ++log.last,
      type,
      record.origin,
      text,
      record.detail,
      record.hops ?? 0,
      record.id,
      time,
      bytes,
    )
    log.entries.push(entry)
    if (time > log.lastTime) log.lastTime = time
    this.#order.push(entry)
    this.#totalEvents++
    this.#totalBytes += bytes

    if (log.size > this.#maxEvents) this.#trimHead(log)
    const cutoff = now - this.#maxAgeMs
    for (let first = log.entries[log.head]; first !== undefined && first.time < cutoff; ) {
      this.#trimHead(log)
      first = log.entries[log.head]
    }
    while (this.#totalEvents > this.#maxTotalEvents || this.#totalBytes > this.#maxTotalBytes) {
      this.#trimOldest()
    }
    this.#expire(cutoff, EXPIRE_PER_APPEND)
    return entry
  }

  since(type: string, epoch: string, offset: number, options?: HistorySinceOptions): HistorySince {
    checkType(type, this.#maxTypeLength)
    checkEpoch(epoch)
    checkOffset(offset)
    const limit = checkLimit(options?.limit, DEFAULTS.historySinceLimit)
    const log = this.#logs.get(type)
    const latest: HistoryPosition =
      log === undefined ? { epoch: this.#freshEpoch, offset: 0 } : { epoch: log.epoch, offset: log.last }
    if (epoch !== latest.epoch) return { recovered: false, reason: 'epoch', latest }
    if (offset > latest.offset) return { recovered: false, reason: 'ahead', latest }
    if (log === undefined || offset === latest.offset) return { recovered: true, entries: [], latest }
    const start = log.indexOf(offset + 1)
    // Offsets are contiguous and time goes forward, so the first missing entry decides: trimmed or too
    // old to replay, the reader has lost something.
    if (start === -1 || log.entries[start]!.time < this.#now() - this.#maxAgeMs) {
      return { recovered: false, reason: 'too-old', latest }
    }
    const entries = log.entries.slice(start, start + limit) as StoredEntry[]
    return { recovered: true, entries, latest }
  }

  latest(type: string): HistoryPosition {
    checkType(type, this.#maxTypeLength)
    const log = this.#logs.get(type)
    return log === undefined ? { epoch: this.#freshEpoch, offset: 0 } : { epoch: log.epoch, offset: log.last }
  }

  /** What the history holds now: types with a position, entries, and their estimated bytes. */
  usage(): { types: number; events: number; bytes: number } {
    return { types: this.#logs.size, events: this.#totalEvents, bytes: this.#totalBytes }
  }

  /**
   * Removes the entries older than `maxAgeMs` of every type. Appends already do a bounded part of this;
   * a hub whose traffic stops may call it on a timer to give the memory back.
   */
  prune(): void {
    this.#expire(this.#now() - this.#maxAgeMs, Number.POSITIVE_INFINITY)
  }

  #epoch(): string {
    return `${this.#id}${this.#generation.toString(36)}`
  }

  #measure(record: HistoryRecord, text: string | undefined): number {
    if (this.#sizeOf !== undefined) {
      const size = this.#sizeOf(record)
      // A size that is no number would make the totals meaningless: count the entry at its base cost.
      return typeof size === 'number' && Number.isFinite(size) && size >= 0 ? size : ENTRY_BYTES
    }
    const id = record.id
    return ENTRY_BYTES + (text === undefined ? 0 : text.length * 2) + (id === undefined ? 0 : id.length * 2)
  }

  #create(type: string): TypeLog {
    // The epoch a reader of this type was given while the history held nothing of it, so a reader that
    // asked before its first event recovers that event. Taken before forgetting another type: that
    // changes the epoch of the types it does not hold from now on, and this one was not held before.
    const epoch = this.#freshEpoch
    if (this.#logs.size >= this.#maxTypes) this.#forgetOne()
    const log = new TypeLog(type, epoch)
    this.#logs.set(type, log)
    return log
  }

  /**
   * Forgets about the least recently appended of the first few types in the map, moving the others to
   * the end, so hot types drift away from the front: bounded work, close to least recently used.
   */
  #forgetOne(): void {
    const sample: TypeLog[] = []
    for (const log of this.#logs.values()) {
      sample.push(log)
      if (sample.length === EVICTION_SAMPLE) break
    }
    let victim = sample[0]!
    for (const log of sample) if (log.lastTime < victim.lastTime) victim = log
    for (const log of sample) {
      this.#logs.delete(log.type)
      if (log !== victim) this.#logs.set(log.type, log)
    }
    for (let i = victim.head; i < victim.entries.length; i++) {
      const entry = victim.entries[i]!
      entry.trimmed = true
      this.#totalEvents--
      this.#totalBytes -= entry.bytes
    }
    // Its offsets start again at 1 if it comes back, and a reader that was told "offset 0" for an
    // unknown type may have been told so before it was forgotten: both need a new epoch.
    this.#generation++
    this.#freshEpoch = this.#epoch()
    this.#compactOrder()
  }

  #trimHead(log: TypeLog): void {
    const entry = log.entries[log.head]!
    entry.trimmed = true
    log.entries[log.head] = undefined
    log.head++
    this.#totalEvents--
    this.#totalBytes -= entry.bytes
    // Drop the trimmed front once it is most of the array: amortized O(1) per entry.
    if (log.head >= 1_024 && log.head * 2 >= log.entries.length) {
      log.entries = log.entries.slice(log.head)
      log.head = 0
    }
  }

  /** Trims the oldest entry of all types (in the order appended). */
  #trimOldest(): void {
    const entry = this.#nextInOrder()
    if (entry === undefined) return
    this.#trimHead(this.#logs.get(entry.type)!)
    this.#compactOrder()
  }

  /** Trims at most `budget` entries, oldest of all first, while they are older than `cutoff`. */
  #expire(cutoff: number, budget: number): void {
    for (let done = 0; done < budget; done++) {
      const entry = this.#nextInOrder()
      if (entry === undefined || entry.time >= cutoff) break
      this.#trimHead(this.#logs.get(entry.type)!)
    }
    this.#compactOrder()
  }

  /** The oldest live entry of all types, skipping the ones already trimmed. */
  #nextInOrder(): StoredEntry | undefined {
    while (this.#orderHead < this.#order.length) {
      const entry = this.#order[this.#orderHead]!
      // Per type, entries are trimmed oldest first, so the first live one here is its type's head.
      if (!entry.trimmed) return entry
      this.#order[this.#orderHead++] = undefined
    }
    return undefined
  }

  /**
   * Keeps the all-types order in proportion to what is live: entries trimmed per type stay in it until
   * they reach its front, so a busy type trimmed by `maxEvents` behind a quiet one would grow it without
   * end. Rebuilt when more than half is dead: amortized O(1) per entry.
   */
  #compactOrder(): void {
    const held = this.#order.length - this.#orderHead
    if (held > 2 * this.#totalEvents + 1_024) {
      this.#order = this.#order.filter((entry) => entry !== undefined && !entry.trimmed)
      this.#orderHead = 0
    } else if (this.#orderHead >= 1_024 && this.#orderHead * 2 >= this.#order.length) {
      this.#order = this.#order.slice(this.#orderHead)
      this.#orderHead = 0
    }
  }
}
