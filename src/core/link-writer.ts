import type { FrameCodec } from './codec.js'
import { EventwireError } from './errors.js'
import type { Link } from './link.js'

/** What to do when a link's outbound queue is full. */
export type OverflowPolicy = 'drop-newest' | 'drop-oldest' | 'close'

export interface LinkWriterOptions {
  /**
   * Most bytes queued for the link (ours plus the platform's send buffer) before `overflow` applies.
   * @default 8 MiB
   */
  maxBufferedBytes: number
  /** @default 'drop-oldest' */
  overflow: OverflowPolicy
  /** Called for each event frame dropped by the policy. */
  onDrop: (events: number) => void
  /** Called once when the policy is `close` and the limit is passed. */
  onOverflowClose: (error: EventwireError) => void
  /**
   * Called when the link refused a message (`send` threw, e.g. a detail that cannot be cloned): once per
   * event frame it could not carry, after the frames around it were sent one by one.
   */
  onSendError: (error: unknown, frame: unknown) => void
  /**
   * Tell the other side, once the queue moves again, how many events were dropped for it: an
   * `ERR_OVERFLOW` error frame after the events that made it through, which a spoke reports as a `gap`.
   * @default false
   */
  announceDrops?: boolean
  /** A budget shared by many writers (a hub's `maxTotalBufferedBytes`); see `SharedBufferBudget`. */
  sharedBudget?: SharedBufferBudget
  /**
   * Where the writers of one hub keep the frames they queue while blocked, joined once for all of them
   * (see `SharedChunks`). Without it, the writer joins its own.
   */
  sharedChunks?: SharedChunks
}

/**
 * Bytes held by a group of writers (one hub's links), counted as each writer's queue plus its link's
 * buffer as last seen. Past `maxBytes`, a writer holding more than its fair share (`maxBytes / links`)
 * treats itself as full and applies its overflow policy; links within their share are not touched, so
 * stalled readers cannot take the memory the others need, however many connections they open.
 */
export interface SharedBufferBudget {
  readonly maxBytes: number
  usedBytes: number
  /** Writers sharing the budget (at least 1). */
  links: number
}

/** Largest batch written at once; past it the queue is flushed inline rather than at the end of the tick. */
const MAX_BATCH_CHARS = 256 * 1024
/** Most events in one batch, well under a receiver's `maxBatchFrames` (10,000 by default). */
const MAX_BATCH_EVENTS = 5_000
/**
 * Frames joined into one chunk while a link is blocked: enough that a chunk of typical events (a few
 * hundred bytes) is a large string, which the garbage collector does not move.
 */
const CHUNK_FRAMES = 1_024

/**
 * Frames joined by commas, as they go into a batch. Open, it collects frames; sealed (once it has
 * `CHUNK_FRAMES`, or when a writer needs its text), it is one string and its frames are free.
 */
class Chunk {
  #frames: string[] | undefined = []
  #text = ''
  /** Where each frame starts in the text, and where the next would (set when sealed). */
  #offsets: number[] = []
  count = 0
  /** The last frame added, while the chunk is open. */
  last: string | undefined

  get isOpen(): boolean {
    return this.#frames !== undefined
  }

  add(frame: string): number {
    this.#frames!.push(frame)
    this.last = frame
    return this.count++
  }

  /** Frames [start, end) joined (sealing the chunk: it is one copy for every writer). */
  text(start: number, end: number): string {
    const frames = this.#frames
    if (frames !== undefined) {
      // One pass for the offsets, here rather than on every add: most chunks are dropped unread.
      const offsets = new Array<number>(frames.length + 1)
      let at = 0
      for (let i = 0; i < frames.length; i++) {
        offsets[i] = at
        at += frames[i]!.length + 1
      }
      offsets[frames.length] = at
      this.#offsets = offsets
      this.#text = frames.length === 1 ? frames[0]! : frames.join(',')
      this.#frames = undefined
      this.last = undefined
    }
    if (start === 0 && end === this.count) return this.#text
    return this.#text.slice(this.#offsets[start], this.#offsets[end]! - 1)
  }
}

/** Frames [start, end) of a chunk, queued by one writer as one entry. */
class ChunkRange {
  constructor(
    readonly chunk: Chunk,
    readonly start: number,
    public end: number,
    /** Characters of its frames joined, commas between them. */
    public size: number,
  ) {}
}

/**
 * The frames that the blocked links of one hub queue, kept once for all of them. A hub encodes an event
 * once and writes the same string to every link that listens; links whose readers are slow or stopped
 * keep it until they move, and mostly drop it unread. Joined per link, each of them would copy every
 * event; here each event is copied into one chunk, and each writer keeps ranges of the chunks.
 */
export class SharedChunks {
  #open = new Chunk()

  /**
   * Adds `frame` for a writer whose newest queued entry is `last`: extends `last` when the frame follows
   * it in the same chunk (returns undefined), or returns a new range to queue.
   */
  add(frame: string, last: ChunkRange | undefined): ChunkRange | undefined {
    let chunk = this.#open
    let index: number
    // Another blocked writer has just added this very frame: the same event, sent to every listener.
    if (chunk.last === frame) {
      index = chunk.count - 1
    } else {
      if (!chunk.isOpen || chunk.count >= CHUNK_FRAMES) {
        // Sealed now, while every writer that has its frames still queues them: one copy for all.
        if (chunk.isOpen) chunk.text(0, chunk.count)
        chunk = this.#open = new Chunk()
      }
      index = chunk.add(frame)
    }
    if (last?.chunk === chunk && last.end === index) {
      last.end++
      last.size += frame.length + 1
      return undefined
    }
    return new ChunkRange(chunk, index, index + 1, frame.length)
  }
}
/**
 * While the platform buffers more than this, frames wait in our queue, where the policy can act. Capped
 * at half of `maxBufferedBytes` so a small bound still leaves the queue room.
 */
const PLATFORM_HIGH_WATER_BYTES = 1024 * 1024
/**
 * A full link that has taken nothing for this long is a reader that stopped, not a slow one: its queue
 * is let go and new events are dropped until it reads again (drop-oldest only).
 */
const STALLED_AFTER_MS = 1_000
/** Resolved once: the end of the current task, for scheduling a flush. */
const SETTLED = Promise.resolve()
/** How often a blocked writer checks the platform buffer when the link reports no drain. */
const BLOCKED_RETRY_MS = 5

/**
 * Per-link outbound queue with per-tick batching: the first frame of a tick schedules one microtask
 * flush, so everything written in the same tick leaves as one batch frame, and a lone frame leaves at the
 * end of the current task (batching adds no timer delay when there is nothing to batch). The queue is
 * bounded: past `maxBufferedBytes` the overflow policy drops or closes, and counts.
 */
export class LinkWriter<W = string> {
  readonly #link: Link<W>
  readonly #codec: FrameCodec<W>
  readonly #options: LinkWriterOptions
  readonly #highWaterBytes: number
  readonly #inlineFlushChars: number
  /**
   * Queued frames in order; a dropped event leaves a hole (undefined) until the queue is compacted.
   * Event frames written while a text link is blocked are queued as ranges of shared chunks: a stalled
   * reader's queue then holds a few ranges of large strings instead of tens of thousands of small ones,
   * which every garbage collection of the process would otherwise walk and move.
   */
  #frames: Array<W | ChunkRange | undefined> = []
  /**
   * Parallel to #frames: how many events each entry holds: 0 for a control frame (never dropped), 1 for
   * an event frame, more for a range of a chunk.
   */
  #counts: number[] = []
  /** Parallel to #frames: the run key each event frame was written with (`FrameCodec.runKey`), if any. */
  #keys: Array<string | undefined> = []
  /** Some entry of #frames is a range of a shared chunk (text to take before sending). */
  #hasRanges = false
  readonly #chunks: SharedChunks
  /** The newest entry of #frames, while it is a range that later frames may extend. */
  #range: ChunkRange | undefined
  /** The platform buffer when a flush last found the link blocked. */
  #blockedPlatformBytes = 0
  /** When a flush first found the link blocked, since it last sent anything. */
  #blockedSince: number | undefined
  /** The reader has stopped (see `#shed`): events are dropped as they come, until the link moves. */
  #isShedding = false
  #queuedChars = 0
  #holes = 0
  /** No event before this index is still queued: drop-oldest resumes its search here (O(1) amortized). */
  #oldestEvent = 0
  /** Events dropped since the other side was last told (with `announceDrops`). */
  #unannounced = 0
  /** What this writer counts in the shared budget: its queue plus its link's buffer, as last seen. */
  #sharedBytes = 0
  #isScheduled = false
  readonly #scheduledFlush = () => this.flush()
  #retryTimer: ReturnType<typeof setTimeout> | undefined
  #isClosed = false
  /** The other side listed `run` in its hello (set by the Hub or Spoke once it has read that hello). */
  #isRunsEnabled = false
  /** The other side counts history positions: the policy is `close`, whatever the options say. */
  #isLossless = false

  constructor(link: Link<W>, codec: FrameCodec<W>, options: LinkWriterOptions) {
    this.#link = link
    this.#codec = codec
    this.#options = options
    this.#chunks = options.sharedChunks ?? new SharedChunks()
    this.#highWaterBytes = Math.min(PLATFORM_HIGH_WATER_BYTES, Math.floor(options.maxBufferedBytes / 2))
    this.#inlineFlushChars = Math.min(MAX_BATCH_CHARS, Math.floor(options.maxBufferedBytes / 4))
  }

  /** Queues an event frame; returns false when the overflow policy dropped it or closed the link. */
  writeEvent(frame: W, runKey?: string): boolean {
    if (this.#isClosed) return false
    if (this.#isShedding) {
      this.#dropped(1)
      return false
    }
    const size = this.#codec.size(frame)
    // While blocked, the buffer as the last flush attempt saw it: asking the socket on every event of a
    // stalled reader costs the other links.
    const isBlocked = this.#retryTimer !== undefined
    const platform = isBlocked ? this.#blockedPlatformBytes : this.#platformBytes()
    const shared = this.#options.sharedBudget
    if (
      this.#queuedChars + size + platform > this.#options.maxBufferedBytes ||
      (shared !== undefined && shared.usedBytes > shared.maxBytes && this.#isOverShared(platform))
    ) {
      if (!this.#makeRoom(size, platform)) return false
    }
    if (isBlocked && typeof frame === 'string') {
      const range = this.#chunks.add(frame, this.#range)
      if (range === undefined) {
        this.#counts[this.#counts.length - 1]!++
        // The comma before it.
        this.#count(size + 1)
      } else {
        this.#frames.push(range)
        this.#counts.push(1)
        this.#keys.push(undefined)
        this.#hasRanges = true
        this.#range = range
        this.#count(size)
      }
      return true
    }
    this.#push(frame, size, 1, runKey)
    return true
  }

  /**
   * Queues a control frame (sub, unsub, ping, pong, error, hello, bye); never dropped by the policy. A
   * control frame that would take the queue past `maxBufferedBytes` drops queued events first; if that is
   * not enough, the other side is not reading what it asks for (a flood of pings), and the link is closed
   * through `onOverflowClose`.
   */
  writeControl(frame: W): void {
    if (this.#isClosed) return
    const size = this.#codec.size(frame)
    const platform = this.#platformBytes()
    if (this.#queuedChars + size + platform > this.#options.maxBufferedBytes) {
      if (this.#options.overflow !== 'close' && !this.#isLossless)
        this.#dropOldest(this.#options.maxBufferedBytes - platform - size)
      if (this.#queuedChars + size + platform > this.#options.maxBufferedBytes) {
        this.#closeForOverflow(
          `more than ${this.#options.maxBufferedBytes} bytes of control frames queued for a peer that does not read`,
        )
        return
      }
    }
    this.#push(frame, size, 0)
  }

  /** Writes what is queued now, as one batch where possible. */
  flush(): void {
    this.#isScheduled = false
    if (this.#isClosed) return
    if (this.#frames.length - this.#holes === 0 && !this.#isShedding) return
    const platform = this.#platformBytes()
    if (platform > this.#highWaterBytes) {
      this.#blockedPlatformBytes = platform
      this.#blockedSince ??= Date.now()
      this.#retryTimer ??= setTimeout(() => {
        this.#retryTimer = undefined
        this.flush()
      }, BLOCKED_RETRY_MS)
      this.#account(platform)
      return
    }
    // The link moves again.
    this.#blockedSince = undefined
    this.#isShedding = false
    // Most flushes find a plain queue: no holes, no ranges of shared chunks. Those are sent as they are.
    const isPlain = this.#holes === 0 && !this.#hasRanges
    const {
      frames: entries,
      counts,
      keys,
    } = isPlain ? { frames: this.#frames as W[], counts: this.#counts, keys: this.#keys } : this.#compacted()
    const frames = isPlain
      ? (entries as W[])
      : entries.map((entry) =>
          entry instanceof ChunkRange ? (entry.chunk.text(entry.start, entry.end) as W) : entry,
        )
    this.#clearQueue()
    if (this.#unannounced > 0) {
      // Once the queue moves again: the other side learns that events before this point were lost.
      frames.push(this.#codec.error('ERR_OVERFLOW', `${this.#unannounced} events dropped: read too slowly`))
      counts.push(0)
      keys.push(undefined)
      this.#unannounced = 0
    }
    forEachBatch(
      frames.length,
      (i) => this.#codec.size(frames[i]!),
      (i) => Math.max(1, counts[i]!),
      (start, end) => this.#send(frames, counts, keys, start, end),
    )
    this.#account(this.#platformBytes())
  }

  /** Sends frames[start, end) as one message; if the link refuses it, frame by frame. */
  #send(frames: W[], counts: number[], keys: Array<string | undefined>, start: number, end: number): void {
    if (this.#isClosed) return
    // A chunk is several frames joined: it always travels inside a batch.
    const message =
      end - start === 1 && counts[start]! <= 1
        ? frames[start]!
        : this.#codec.batch(frames.slice(start, end), {
            runs: this.#isRunsEnabled,
            runKeys: keys.slice(start, end),
          })
    try {
      this.#link.send(message)
      return
    } catch (error) {
      if (end - start === 1) {
        if (counts[start]! > 0) this.#options.onSendError(error, frames[start])
        return
      }
    }
    for (let i = start; i < end; i++) this.#send(frames, counts, keys, i, i + 1)
  }

  /** The platform buffer drained: write what waits. */
  drained(): void {
    if (this.#retryTimer !== undefined) {
      clearTimeout(this.#retryTimer)
      this.#retryTimer = undefined
    }
    this.flush()
  }

  /** The other side reads run frames: batches may carry them from now on. */
  enableRuns(): void {
    this.#isRunsEnabled = true
  }

  /**
   * The other side counts the history positions of the events it receives (docs/recovery.md): from now
   * on the writer never drops an event, since the events after a hole would be counted one offset too
   * low. Past the bound the link is closed instead (`onOverflowClose`); the other side resumes from the
   * last event it got, which is then exact. Nothing before this call was dropped (it comes right after
   * the hello).
   */
  makeLossless(): void {
    this.#isLossless = true
  }

  /** Whether batches may carry run frames (the other side said it reads them). */
  get runsEnabled(): boolean {
    return this.#isRunsEnabled
  }

  /** Bytes waiting in this queue (not counting the platform buffer). */
  get queuedBytes(): number {
    return this.#queuedChars
  }

  /** Stops writing and forgets the queue (after the link closed). */
  dispose(): void {
    this.#isClosed = true
    if (this.#retryTimer !== undefined) clearTimeout(this.#retryTimer)
    this.#retryTimer = undefined
    this.#clearQueue()
    this.#account(0)
  }

  /** Forgets the queue (flushed or given up), with its bookkeeping. */
  #clearQueue(): void {
    this.#frames = []
    this.#counts = []
    this.#keys = []
    this.#hasRanges = false
    this.#range = undefined
    this.#queuedChars = 0
    this.#holes = 0
    this.#oldestEvent = 0
  }

  #push(frame: W, size: number, count: number, runKey?: string): void {
    // Frames after this one start a new range: order is kept.
    this.#range = undefined
    this.#frames.push(frame)
    this.#counts.push(count)
    this.#keys.push(runKey)
    this.#count(size)
    // A burst larger than a batch leaves now, in several writes, instead of piling up until the tick ends;
    // not while the link is blocked, where the retry timer will try again (asking each push costs).
    if (this.#queuedChars >= this.#inlineFlushChars && this.#retryTimer === undefined) this.flush()
    else if (!this.#isScheduled) {
      this.#isScheduled = true
      // A settled promise's `then` costs less than `queueMicrotask` with a new closure, once per tick.
      SETTLED.then(this.#scheduledFlush)
    }
  }

  /** Counts `size` more bytes queued, here and in the shared budget. */
  #count(size: number): void {
    this.#queuedChars += size
    if (this.#options.sharedBudget !== undefined) {
      this.#options.sharedBudget.usedBytes += size
      this.#sharedBytes += size
    }
  }

  #platformBytes(): number {
    return this.#link.bufferedBytes?.() ?? 0
  }

  /** Brings this writer's share of the shared budget up to date. */
  #account(platform: number): void {
    const budget = this.#options.sharedBudget
    if (budget === undefined) return
    const bytes = this.#isClosed ? 0 : this.#queuedChars + platform
    budget.usedBytes += bytes - this.#sharedBytes
    this.#sharedBytes = bytes
  }

  /** The shared budget is spent and this link holds more than its share of it. */
  #isOverShared(platform: number): boolean {
    const budget = this.#options.sharedBudget
    if (budget === undefined) return false
    this.#account(platform)
    return (
      budget.usedBytes > budget.maxBytes && this.#sharedBytes > budget.maxBytes / Math.max(1, budget.links)
    )
  }

  /** Applies the overflow policy; true when the new frame may be queued. */
  #makeRoom(incoming: number, platform: number): boolean {
    const { overflow, maxBufferedBytes } = this.#options
    if (overflow === 'close' || this.#isLossless) {
      this.#closeForOverflow(`more than ${maxBufferedBytes} bytes queued for a slow peer`)
      return false
    }
    if (
      overflow === 'drop-oldest' &&
      this.#blockedSince !== undefined &&
      Date.now() - this.#blockedSince >= STALLED_AFTER_MS
    ) {
      this.#shed()
      return false
    }
    if (overflow === 'drop-oldest') {
      // Over the shared budget, the new event replaces old ones: this link's share does not grow.
      const budget = this.#isOverShared(platform)
        ? this.#queuedChars - incoming
        : maxBufferedBytes - platform - incoming
      // Make room for many events at once (a sixteenth of the bound), so that a link that stays full pays
      // for dropping once per thousands of events, not on each one.
      this.#dropOldest(budget - (maxBufferedBytes >> 4))
      if (this.#queuedChars <= budget) return true
    }
    this.#dropped(1)
    return false
  }

  /** Drops the oldest queued events until the queue holds at most `budget` bytes (or has no events). */
  #dropOldest(budget: number): void {
    let dropped = 0
    const frames = this.#frames
    while (this.#queuedChars > budget && this.#oldestEvent < frames.length) {
      const i = this.#oldestEvent++
      const frame = frames[i]
      const count = this.#counts[i]!
      if (frame === undefined || count === 0) continue
      const size = frame instanceof ChunkRange ? frame.size : this.#codec.size(frame)
      if (frame === this.#range) this.#range = undefined
      frames[i] = undefined
      this.#queuedChars -= size
      if (this.#options.sharedBudget !== undefined) {
        this.#options.sharedBudget.usedBytes -= size
        this.#sharedBytes -= size
      }
      this.#holes++
      dropped += count
    }
    // Holes are removed once they are half the queue, so each costs O(1) amortized.
    if (this.#holes > 64 && this.#holes * 2 > frames.length) {
      const { frames: kept, counts, keys } = this.#compacted()
      this.#frames = kept
      this.#counts = counts
      this.#keys = keys
      this.#holes = 0
      this.#oldestEvent = 0
    }
    if (dropped > 0) this.#dropped(dropped)
  }

  /**
   * The link is full and has taken nothing for `STALLED_AFTER_MS`: its reader has stopped. Keeping the
   * newest events for it would cost every later event a copy it may never read, so the queued events go
   * (counted) and the next ones are dropped at once, until the link moves again; then the reader gets
   * the count of what it missed (a gap) and the live stream.
   */
  #shed(): void {
    this.#dropOldest(Number.NEGATIVE_INFINITY)
    this.#isShedding = true
    this.#dropped(1)
  }

  /** The queue without its holes. */
  #compacted(): { frames: Array<W | ChunkRange>; counts: number[]; keys: Array<string | undefined> } {
    const frames: Array<W | ChunkRange> = []
    const counts: number[] = []
    const keys: Array<string | undefined> = []
    for (let i = 0; i < this.#frames.length; i++) {
      const frame = this.#frames[i]
      if (frame === undefined) continue
      frames.push(frame)
      counts.push(this.#counts[i]!)
      keys.push(this.#keys[i])
    }
    return { frames, counts, keys }
  }

  #dropped(events: number): void {
    if (this.#options.announceDrops === true) this.#unannounced += events
    this.#options.onDrop(events)
  }

  #closeForOverflow(message: string): void {
    this.dispose()
    this.#options.onOverflowClose(new EventwireError('ERR_OVERFLOW', message))
  }
}

/**
 * Cuts `count` queued frames into consecutive batches, each of at most `MAX_BATCH_CHARS` characters and
 * `MAX_BATCH_EVENTS` events (a frame larger than that is a batch of its own), and calls `send(start, end)`
 * for each, in order. Every writer of batches uses it: the link writer, and the Redis target's publisher.
 */
export function forEachBatch(
  count: number,
  sizeAt: (index: number) => number,
  eventsAt: (index: number) => number,
  send: (start: number, end: number) => void,
): void {
  let start = 0
  while (start < count) {
    let end = start
    let chars = 0
    let events = 0
    while (end < count) {
      const size = sizeAt(end)
      const more = eventsAt(end)
      if (end > start && (chars + size > MAX_BATCH_CHARS || events + more > MAX_BATCH_EVENTS)) break
      chars += size
      events += more
      end++
    }
    send(start, end)
    start = end
  }
}

/** The error for an event frame a link refused to carry (a detail its platform cannot clone or encode). */
export function unsendableEventError(cause: unknown, frame: unknown): EventwireError {
  const type = Array.isArray(frame) && typeof frame[1] === 'string' ? frame[1] : undefined
  return new EventwireError(
    'ERR_SERIALIZE',
    `an event${type ? ` of type "${type}"` : ''} could not be sent`,
    {
      cause,
      eventType: type,
    },
  )
}
