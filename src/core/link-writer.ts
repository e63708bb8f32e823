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
}

/** Largest batch written at once; past it the queue is flushed inline rather than at the end of the tick. */
const MAX_BATCH_CHARS = 256 * 1024
/**
 * While the platform buffers more than this, frames wait in our queue, where the policy can act. Capped
 * at half of `maxBufferedBytes` so a small bound still leaves the queue room.
 */
const PLATFORM_HIGH_WATER_BYTES = 1024 * 1024
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
  #frames: W[] = []
  /** Parallel to #frames: true for event frames (droppable), false for control frames. */
  #isEvent: boolean[] = []
  #queuedChars = 0
  #isScheduled = false
  #retryTimer: ReturnType<typeof setTimeout> | undefined
  #isClosed = false
  /** The other side listed `run` in its hello (set by the Hub or Spoke once it has read that hello). */
  #isRunsEnabled = false

  constructor(link: Link<W>, codec: FrameCodec<W>, options: LinkWriterOptions) {
    this.#link = link
    this.#codec = codec
    this.#options = options
    this.#highWaterBytes = Math.min(PLATFORM_HIGH_WATER_BYTES, Math.floor(options.maxBufferedBytes / 2))
    this.#inlineFlushChars = Math.min(MAX_BATCH_CHARS, Math.floor(options.maxBufferedBytes / 4))
  }

  /** Queues an event frame; returns false when the overflow policy dropped it or closed the link. */
  writeEvent(frame: W): boolean {
    if (this.#isClosed) return false
    const size = this.#codec.size(frame)
    if (this.#queuedChars + size + this.#platformBytes() > this.#options.maxBufferedBytes) {
      if (!this.#makeRoom(size)) return false
    }
    this.#push(frame, size, true)
    return true
  }

  /** Queues a control frame (sub, unsub, ping, pong, error, hello); never dropped by the policy. */
  writeControl(frame: W): void {
    if (this.#isClosed) return
    this.#push(frame, this.#codec.size(frame), false)
  }

  /** Writes what is queued now, as one batch where possible. */
  flush(): void {
    this.#isScheduled = false
    if (this.#isClosed || this.#frames.length === 0) return
    if (this.#platformBytes() > this.#highWaterBytes) {
      this.#retryTimer ??= setTimeout(() => {
        this.#retryTimer = undefined
        this.flush()
      }, BLOCKED_RETRY_MS)
      return
    }
    const frames = this.#frames
    const isEvent = this.#isEvent
    this.#frames = []
    this.#isEvent = []
    this.#queuedChars = 0
    let start = 0
    while (start < frames.length) {
      let end = start
      let chars = 0
      while (end < frames.length) {
        const size = this.#codec.size(frames[end]!)
        if (end > start && chars + size > MAX_BATCH_CHARS) break
        chars += size
        end++
      }
      this.#send(frames, isEvent, start, end)
      start = end
    }
  }

  /** Sends frames[start, end) as one message; if the link refuses it, frame by frame. */
  #send(frames: W[], isEvent: boolean[], start: number, end: number): void {
    if (this.#isClosed) return
    const message =
      end - start === 1
        ? frames[start]!
        : this.#codec.batch(frames.slice(start, end), { runs: this.#isRunsEnabled })
    try {
      this.#link.send(message)
      return
    } catch (error) {
      if (end - start === 1) {
        if (isEvent[start]) this.#options.onSendError(error, frames[start])
        return
      }
    }
    for (let i = start; i < end; i++) this.#send(frames, isEvent, i, i + 1)
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

  /** Bytes waiting in this queue (not counting the platform buffer). */
  get queuedBytes(): number {
    return this.#queuedChars
  }

  /** Stops writing and forgets the queue (after the link closed). */
  dispose(): void {
    this.#isClosed = true
    if (this.#retryTimer !== undefined) clearTimeout(this.#retryTimer)
    this.#retryTimer = undefined
    this.#frames = []
    this.#isEvent = []
    this.#queuedChars = 0
  }

  #push(frame: W, size: number, isEvent: boolean): void {
    this.#frames.push(frame)
    this.#isEvent.push(isEvent)
    this.#queuedChars += size
    // A burst larger than a batch leaves now, in several writes, instead of piling up until the tick ends.
    if (this.#queuedChars >= this.#inlineFlushChars) this.flush()
    else if (!this.#isScheduled) {
      this.#isScheduled = true
      queueMicrotask(() => this.flush())
    }
  }

  #platformBytes(): number {
    return this.#link.bufferedBytes?.() ?? 0
  }

  /** Applies the overflow policy; true when the new frame may be queued. */
  #makeRoom(incoming: number): boolean {
    const { overflow, maxBufferedBytes, onDrop } = this.#options
    if (overflow === 'close') {
      this.dispose()
      this.#options.onOverflowClose(
        new EventwireError('ERR_OVERFLOW', `more than ${maxBufferedBytes} bytes queued for a slow peer`),
      )
      return false
    }
    if (overflow === 'drop-oldest') {
      const budget = maxBufferedBytes - this.#platformBytes() - incoming
      const frames: W[] = []
      const isEvent: boolean[] = []
      let dropped = 0
      for (let i = 0; i < this.#frames.length; i++) {
        const frame = this.#frames[i]!
        if (this.#isEvent[i] && this.#queuedChars > budget) {
          this.#queuedChars -= this.#codec.size(frame)
          dropped++
          continue
        }
        frames.push(frame)
        isEvent.push(this.#isEvent[i]!)
      }
      this.#frames = frames
      this.#isEvent = isEvent
      if (dropped > 0) onDrop(dropped)
      if (this.#queuedChars <= budget) return true
    }
    onDrop(1)
    return false
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
