import type { FrameCodec } from './codec.js'
import { EventwireError, invalidOption } from './errors.js'
import type { ResumeOutcome } from './frame.js'
import { type HistoryPosition, type HistorySince, type HistoryStore, MemoryHistory } from './history.js'
import type { LinkWriter } from './link-writer.js'
import type { EventwireStatus } from './types.js'

/**
 * Recovery on the hub-and-spoke links (docs/recovery.md): a hub with history gives each event of a kept
 * type its position in the history, tells spokes that can resume where each event stands, and replays
 * what a reconnecting spoke missed before its live events. The Hub and the Spoke only call into here.
 */

/** `HubOptions.history`: which types a hub keeps a history of, and where. */
export interface HubHistoryOptions {
  /** The types kept: a list, or a test of a type (called once per type, the answer is remembered). */
  readonly types: readonly string[] | ((type: string) => boolean)
  /** Where the history is kept. Synchronous stores only, for now. @default new MemoryHistory() */
  readonly store?: HistoryStore
}

/** What a hub writes to one link, as far as recovery is concerned. */
export interface PositionedLink<W> {
  readonly writer: LinkWriter<W>
  /** The link is closed (a replay larger than its bound closes it): a replay stops. */
  readonly isGone: boolean
  /** Set once the link's hello listed `resume`; undefined otherwise (positions are then never sent). */
  positions: LinkPositions | undefined
}

/** Per link that can resume: the node id its hello gave, and the last position written per type. */
export interface LinkPositions {
  readonly nodeId: string
  /** type -> the position of the last event of it written to the link, or `UNPOSITIONED`. */
  readonly last: Map<string, { position: HistoryPosition }>
  /**
   * The entry of `last` used most recently, and its type: a burst is mostly of one type, so a write
   * costs a comparison, not a map lookup, per link.
   */
  lastType: string | undefined
  lastSlot: { position: HistoryPosition } | undefined
  /** Resume frames this link has sent: bounded like its subscriptions. */
  resumes: number
}

/** Written to a link for events outside the history: the next events of the type carry no position. */
const UNPOSITIONED: HistoryPosition = Object.freeze({ epoch: '', offset: 0 })
/** Nothing written yet: no position follows from it (no epoch is empty). */
const NOWHERE: HistoryPosition = Object.freeze({ epoch: '', offset: -1 })
/** Answers remembered of a `types` function: bounded, as the hub's other per-type maps. */
const MAX_TYPE_ANSWERS = 10_000
/** Dispatching links whose node id is remembered, so a spoke is not replayed its own events. */
const MAX_ORIGINS = 16_384
/** `since` calls for one resume at most (each gives up to its limit of entries). */
const MAX_SINCE_CALLS = 1_000

/** The hub's side: append, position frames, replay. Created only when the hub has `history`. */
export class HubHistory<W> {
  readonly #store: HistoryStore
  readonly #codec: FrameCodec<W>
  readonly #report: (error: EventwireError) => void
  readonly #list: ReadonlySet<string> | undefined
  readonly #test: ((type: string) => boolean) | undefined
  readonly #answers = new Map<string, boolean>()
  /** A link's origin (chosen by the hub) -> the node id its hello gave: whose events an entry holds. */
  readonly #nodeIds = new Map<string, string>()
  #isAsyncReported = false

  constructor(options: unknown, codec: FrameCodec<W>, report: (error: EventwireError) => void) {
    if (typeof options !== 'object' || options === null) invalidOption('history', 'an object', options)
    const { types, store } = options as HubHistoryOptions
    if (typeof types === 'function') this.#test = types
    else if (Array.isArray(types) && types.every((type) => typeof type === 'string'))
      this.#list = new Set(types)
    else invalidOption('history.types', 'an array of event types or a function', types)
    if (
      store !== undefined &&
      (typeof store !== 'object' ||
        store === null ||
        typeof store.append !== 'function' ||
        typeof store.since !== 'function')
    ) {
      invalidOption('history.store', 'a HistoryStore', store)
    }
    if (codec.position === undefined || codec.resumed === undefined) {
      invalidOption('history', 'a codec that lists the resume feature (the text codec)', 'this codec')
    }
    // The hub's own bound on types, so that every type it routes can be kept.
    this.#store = store ?? new MemoryHistory({ maxTypeLength: codec.limits.maxTypeLength })
    this.#codec = codec
    this.#report = report
  }

  /** The types kept, when they were given as a list (a test names none in advance). */
  get listed(): Iterable<string> {
    return this.#list ?? []
  }

  /** Whether events of `type` are kept. */
  keeps(type: string): boolean {
    if (this.#list !== undefined) return this.#list.has(type)
    let answer = this.#answers.get(type)
    if (answer === undefined) {
      try {
        answer = this.#test!(type) === true
      } catch (cause) {
        this.#report(
          new EventwireError('ERR_LISTENER_THREW', 'history.types threw', { cause, eventType: type }),
        )
        answer = false
      }
      if (this.#answers.size >= MAX_TYPE_ANSWERS) this.#answers.clear()
      this.#answers.set(type, answer)
    }
    return answer
  }

  /** A link listed `resume` in its hello, with its node id: it is sent positions from now on. */
  greet(link: PositionedLink<W>, origin: string, nodeId: string): void {
    link.positions = { nodeId, last: new Map(), lastType: undefined, lastSlot: undefined, resumes: 0 }
    // No drop may make the link's count of offsets wrong: past its bound it is closed instead.
    link.writer.makeLossless()
    if (this.#nodeIds.size >= MAX_ORIGINS) this.#nodeIds.delete(this.#nodeIds.keys().next().value!)
    this.#nodeIds.set(origin, nodeId)
  }

  /**
   * Records an event of a kept type; its position, or undefined when the store could not give one
   * synchronously (the event then goes out without a position). `frame` is the event as encoded for the
   * links, when it was: its detail text is kept rather than encoded again.
   */
  append(
    type: string,
    origin: string,
    detail: unknown,
    hops: number,
    id: string | undefined,
    frame: W | undefined,
    runKey: string | undefined,
  ): HistoryPosition | undefined {
    const text = frame === undefined ? undefined : this.#codec.detailText?.(frame, runKey)
    let position: ReturnType<HistoryStore['append']>
    try {
      position =
        text === undefined
          ? this.#store.append(type, { origin, detail, hops, id })
          : this.#store.append(type, { origin, text })
    } catch (error) {
      this.#report(asError(error, type))
      return undefined
    }
    if (position instanceof Promise) {
      position.catch(() => {})
      if (!this.#isAsyncReported) {
        this.#isAsyncReported = true
        this.#report(
          new EventwireError(
            'ERR_INVALID_OPTION',
            'history.store answered with a promise: the hub needs a synchronous store (such as MemoryHistory) for now',
          ),
        )
      }
      return undefined
    }
    return position
  }

  /**
   * Writes an event of a kept type to a link that can resume, preceded by a position frame when the link
   * cannot count its way to it (first event, an event skipped for no echo, another epoch), so that
   * consecutive events still form runs. `position` undefined: the event has none (see `unpositioned`).
   */
  write(
    link: PositionedLink<W>,
    positions: LinkPositions,
    type: string,
    position: HistoryPosition | undefined,
    frame: W,
    runKey: string | undefined,
  ): boolean {
    let slot = positions.lastType === type ? positions.lastSlot : positions.last.get(type)
    if (slot === undefined) {
      // A first event of the type on this link: a position frame, or the frame that says it has none.
      slot = { position: NOWHERE }
      positions.last.set(type, slot)
    }
    positions.lastType = type
    positions.lastSlot = slot
    const last = slot.position
    if (position === undefined) {
      if (last !== UNPOSITIONED) {
        link.writer.writeControl(this.#codec.position!(type))
        slot.position = UNPOSITIONED
      }
    } else {
      if (last.epoch !== position.epoch || last.offset + 1 !== position.offset) {
        link.writer.writeControl(this.#codec.position!(type, position.epoch, position.offset))
      }
      slot.position = position
    }
    return link.writer.writeEvent(frame, runKey)
  }

  /**
   * A resume frame, already authorized and subscribed: writes the entries after `offset` in `epoch` that
   * the link's own node did not dispatch, in order, then the answer. Synchronous with a synchronous
   * store, so no live event can come between the replay and the ones after it.
   */
  replay(
    link: PositionedLink<W>,
    positions: LinkPositions,
    type: string,
    epoch: string,
    offset: number,
    onSent: () => void,
  ): void {
    let count = 0
    let from = offset
    let outcome: ResumeOutcome = 'recovered'
    for (let calls = 0; calls < MAX_SINCE_CALLS; calls++) {
      const answer = this.#since(type, epoch, from)
      if (answer === undefined) {
        outcome = 'unavailable'
        break
      }
      if (!answer.recovered) {
        outcome = answer.reason
        break
      }
      for (const entry of answer.entries) {
        if (link.isGone) return
        from = entry.offset
        // The spoke delivered its own events locally when it dispatched them.
        if (this.#nodeIds.get(entry.origin) === positions.nodeId) continue
        let frame: W
        try {
          frame =
            entry.text !== undefined && this.#codec.eventFromText !== undefined
              ? this.#codec.eventFromText(type, entry.origin, entry.text)
              : this.#codec.event(type, entry.origin, entry.detail, entry.hops, entry.id)
        } catch (error) {
          // It reached no one live either (a hub's own event with a detail that cannot be encoded).
          this.#report(asError(error, type))
          continue
        }
        const runKey = this.#codec.runKey?.(type, entry.origin, entry.hops, entry.id)
        if (this.write(link, positions, type, entry, frame, runKey)) onSent()
        count++
      }
      if (answer.entries.length === 0 || from >= answer.latest.offset) break
    }
    link.writer.writeControl(this.#codec.resumed!(type, outcome, outcome === 'recovered' ? count : 0))
  }

  #since(type: string, epoch: string, offset: number): HistorySince | undefined {
    if (!this.keeps(type)) return undefined
    try {
      const answer = this.#store.since(type, epoch, offset)
      if (!(answer instanceof Promise)) return answer
      answer.catch(() => {})
    } catch (error) {
      this.#report(asError(error, type))
    }
    return undefined
  }
}

function asError(error: unknown, type: string): EventwireError {
  return error instanceof EventwireError
    ? error
    : new EventwireError('ERR_INVALID', 'history failed', { cause: error, eventType: type })
}

/** The next offset a link will bring for a type, or that its events carry none. */
interface Next {
  epoch: string | undefined
  offset: number
}

/** Links whose counts are kept: the current one and the one before, whose frames may still be applied. */
const LINKS_KEPT = 2

/**
 * The spoke's side: per type it listens to, the epoch and offset of the last event it received (only
 * what it is certain of), counted from the hub's position frames; resume frames on reconnect; the
 * hub's answers as statuses.
 */
export class SpokePositions {
  /** type -> the last position received, certain. */
  readonly #known = new Map<string, { epoch: string; offset: number }>()
  /** Per link (its serial), type -> the next offset it brings. */
  readonly #next = new Map<number, Map<string, Next>>()
  /** Some position frame arrived: received events are counted from then on (a field check before). */
  counting = false
  /** The count used last, with its link and type: a burst is mostly of one type, so no map lookups. */
  #cachedSerial = -1
  #cachedType: string | undefined
  #cachedNext: Next | undefined
  /** Types sent a resume frame on this link, waiting for the answer. */
  readonly #asked = new Set<string>()
  /** Types subscribed with a plain sub on this link (no position known): the connection-level gap. */
  #plain = 0
  /** Types sent a resume frame on this link, answered or not. */
  #resumes = 0
  readonly #reportStatus: (status: EventwireStatus) => void

  constructor(reportStatus: (status: EventwireStatus) => void) {
    this.#reportStatus = reportStatus
  }

  /** Types with a position to resume from. */
  get holds(): boolean {
    return this.#known.size > 0
  }

  /** Whether a position is known for `type`. */
  knows(type: string): boolean {
    return this.#known.has(type)
  }

  /** A new link (`serial`): counts start again from its position frames. */
  opened(serial: number): void {
    this.#next.set(serial, new Map())
    for (const old of this.#next.keys()) if (this.#next.size > LINKS_KEPT) this.#next.delete(old)
    this.#asked.clear()
    this.#plain = 0
    this.#resumes = 0
    this.#cachedType = undefined
  }

  /** The handshake of a link subscribes to `type` without a position. */
  subscribedPlain(): void {
    this.#plain++
  }

  /** The resume frames for the types listed, or none when the hub does not resume (then subs). */
  resumeFrames<W>(types: readonly string[], codec: FrameCodec<W>, hubResumes: boolean): W[] {
    const frames: W[] = []
    for (const type of types) {
      const known = this.#known.get(type)
      if (known !== undefined && hubResumes && codec.resume !== undefined) {
        frames.push(codec.resume(type, known.epoch, known.offset))
        this.#asked.add(type)
        this.#resumes++
      } else {
        this.#known.delete(type)
        frames.push(codec.sub(type))
        this.#plain++
      }
    }
    return frames
  }

  /** Whether this reconnect left some type without recovery: the connection-level gap. */
  get hasPlain(): boolean {
    return this.#plain > 0 || this.#resumes === 0
  }

  /** No listener for `type` any more: nothing of it is missed from now on. */
  forget(type: string): void {
    this.#known.delete(type)
    for (const next of this.#next.values()) next.delete(type)
    this.#cachedType = undefined
  }

  position(serial: number, type: string, epoch: string | undefined, offset: number): void {
    const next = this.#next.get(serial)
    if (next === undefined) return
    this.counting = true
    next.set(type, { epoch, offset })
    this.#cachedType = undefined
  }

  /**
   * An event of `type` from link `serial`, in the order received: counts it. False when it is one this
   * node has already received (a replay that overlaps what an earlier link still delivered): drop it.
   */
  event(serial: number, type: string): boolean {
    let next: Next | undefined
    if (this.#cachedType === type && this.#cachedSerial === serial) next = this.#cachedNext
    else {
      next = this.#next.get(serial)?.get(type)
      this.#cachedSerial = serial
      this.#cachedType = type
      this.#cachedNext = next
    }
    if (next === undefined) {
      // An event whose position this node cannot tell: whatever it held for the type is no longer certain.
      this.#known.delete(type)
      return true
    }
    const epoch = next.epoch
    if (epoch === undefined) return true
    const offset = next.offset++
    const known = this.#known.get(type)
    if (known === undefined || known.epoch !== epoch) {
      this.#known.set(type, { epoch, offset })
      return true
    }
    if (offset <= known.offset) return false
    known.offset = offset
    return true
  }

  /** The hub's answer to a resume frame. */
  resumed(type: string, outcome: ResumeOutcome, count: number, since: number): void {
    if (!this.#asked.delete(type)) return
    if (outcome === 'recovered') {
      this.#reportStatus({ type: 'recovered', eventType: type, count })
      return
    }
    this.#known.delete(type)
    this.#reportStatus({ type: 'gap', eventType: type, reason: outcome, since, until: Date.now() })
  }
}
