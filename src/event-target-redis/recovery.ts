import { DEFAULTS } from '../core/defaults.js'
import { EventwireError, invalidOption } from '../core/errors.js'
import { eventHead, type Frame } from '../core/frame.js'
import { positiveOption } from '../core/history-checks.js'
import { jsonSerializer } from '../core/serializer.js'
import type { EventwireStatus, Serializer } from '../core/types.js'
import type { RedisClient } from './client.js'
import { historyKeyBase, POSITION, type Script, script, TRIM } from './history.js'

/**
 * Recovery for Redis peers (docs/recovery.md, "Redis peers"): a type with history is published by one
 * Lua script per channel per batch that appends every event of the batch to the type's stream (the
 * `createRedisHistory` layout) and publishes the message in the same script, so the stream's order is
 * the channel's order across every node. Each event frame carries its position in its `id` slot,
 * `@<offset>:<epoch>`, which receivers of any version accept (it is a valid event identity, unique per
 * event). A receiver remembers per type the last position it received; after its subscribe connection
 * came back it holds the type's live messages, reads the stream from that position, delivers what it
 * missed, then the held messages above the last replayed offset, and reports `recovered` or a per-type
 * `gap` with the reason.
 */

/** The `history` option of `createRedisEventTarget`. */
export interface RedisTargetHistoryOptions {
  /** The types whose events are kept and recovered: a list, or a test asked once per type. */
  readonly types: readonly string[] | ((type: string) => boolean)
  /** Entries kept per type (`MAXLEN ~`). @default 1_000 */
  readonly maxEvents?: number
  /** An older entry is trimmed and never replayed. @default 300_000 */
  readonly maxAgeMs?: number
}

export interface RecoverySettings {
  readonly isKept: (type: string) => boolean
  readonly maxEvents: number
  readonly maxAgeMs: number
}

/** Types whose answer of `types` (a function) is remembered; past it the test is asked again. */
const MAX_REMEMBERED_TYPES = 10_000

export function readHistoryOption(value: unknown): RecoverySettings | undefined {
  if (value === undefined) return undefined
  if (typeof value !== 'object' || value === null) invalidOption('history', 'an object', value)
  const options = value as RedisTargetHistoryOptions
  const types = options.types
  let isKept: (type: string) => boolean
  if (typeof types === 'function') {
    const answers = new Map<string, boolean>()
    isKept = (type) => {
      let answer = answers.get(type)
      if (answer === undefined) {
        answer = types(type) === true
        if (answers.size >= MAX_REMEMBERED_TYPES) answers.clear()
        answers.set(type, answer)
      }
      return answer
    }
  } else if (Array.isArray(types) && types.every((type) => typeof type === 'string')) {
    const set = new Set<string>(types)
    isKept = (type) => set.has(type)
  } else {
    invalidOption('history.types', 'a list of types or a function', types)
  }
  return {
    isKept,
    maxEvents: positiveOption('history.maxEvents', options.maxEvents, DEFAULTS.historyMaxEvents),
    maxAgeMs: positiveOption('history.maxAgeMs', options.maxAgeMs, DEFAULTS.historyMaxAgeMs, true),
  }
}

/**
 * An event of a kept type on its way to the script: the frame without its last element (the script
 * appends the position) and what the stream records. `length` lets the publisher cut batches by size as
 * it cuts strings.
 */
export interface KeptFrame {
  readonly type: string
  readonly open: string
  readonly text: string
  readonly origin: string
  readonly hops: number
  readonly seq: number
  readonly id: string
  readonly time: number
  readonly length: number
}

/**
 * Encodes an event of a kept type once: the detail text the stream keeps (the serializer's output) and
 * the frame `[1, type, origin, detail, hops, seq` that the script closes with `,"<position>"]`.
 */
export function encodeKept(
  type: string,
  origin: string,
  detail: unknown,
  serializer: Serializer,
  hops: number,
  seq: number,
  id: string | undefined,
): KeptFrame {
  let text: string | undefined
  try {
    text = serializer.stringify(detail === undefined ? null : detail)
    if (typeof text !== 'string') throw new TypeError('the serializer did not return a string')
  } catch (cause) {
    throw new EventwireError('ERR_SERIALIZE', `the detail of "${type}" cannot be serialized`, {
      cause,
      eventType: type,
    })
  }
  // JSON details travel as JSON in the frame; other serializers' text travels as a JSON string.
  const inFrame = serializer === jsonSerializer ? text : JSON.stringify(text)
  const open = `${eventHead(type, origin)}${inFrame},${hops},${seq}`
  return { type, open, text, origin, hops, seq, id: id ?? '', time: Date.now(), length: open.length + 24 }
}

/**
 * KEYS: stream, meta. ARGV: a new epoch in case one is needed, maxEvents, the age cutoff, the channel,
 * '1' for SPUBLISH, then 7 per event: time, origin, text, hops, bridge id ('' for none), seq, open frame.
 * Appends every event, closes each frame with its position, publishes them as one message (a batch frame
 * for several), trims, and answers { epoch, last offset }.
 */
const PUBLISH_KEPT = `${POSITION}
local epoch = position()
local frames = {}
local id
for i = 6, #ARGV, 7 do
  if ARGV[i + 4] ~= '' then
    id = redis.call('XADD', KEYS[1], '0-*', 't', ARGV[i], 'o', ARGV[i + 1], 'd', ARGV[i + 2], 'h', ARGV[i + 3], 's', ARGV[i + 5], 'i', ARGV[i + 4])
  else
    id = redis.call('XADD', KEYS[1], '0-*', 't', ARGV[i], 'o', ARGV[i + 1], 'd', ARGV[i + 2], 'h', ARGV[i + 3], 's', ARGV[i + 5])
  end
  local position = '@' .. string.sub(id, 3) .. ':' .. epoch
  if ARGV[i + 4] ~= '' then position = position .. '/' .. ARGV[i + 4] end
  frames[#frames + 1] = ARGV[i + 6] .. ',"' .. position .. '"]'
end
local last = string.sub(id, 3)
redis.call('HSET', KEYS[2], 'last', last)
local message
if #frames == 1 then message = frames[1] else message = '[4,' .. table.concat(frames, ',') .. ']' end
if ARGV[5] == '1' then
  redis.call('SPUBLISH', ARGV[4], message)
else
  redis.call('PUBLISH', ARGV[4], message)
end
${TRIM}
return { epoch, last }
`

/**
 * KEYS: stream, meta. ARGV: a new epoch in case one is needed, the reader's epoch, its offset, the id
 * after it, the limit, the age cutoff. As `createRedisHistory`'s `since`, but an entry whose time is not
 * a number does not fail the script: the reader reports that entry and goes on.
 */
const READ_KEPT = `${POSITION}
local epoch, last = position()
if ARGV[2] ~= epoch then return { epoch, last, 'epoch' } end
if tonumber(ARGV[3]) > tonumber(last) then return { epoch, last, 'ahead' } end
if ARGV[3] == last then return { epoch, last, 'ok', {} } end
local entries = redis.call('XRANGE', KEYS[1], ARGV[4], '+', 'COUNT', ARGV[5])
local first = entries[1]
if first == nil or first[1] ~= ARGV[4] or (tonumber(first[2][2]) or math.huge) < tonumber(ARGV[6]) then
  return { epoch, last, 'too-old' }
end
return { epoch, last, 'ok', entries }
`

const PUBLISH_SCRIPT = script(PUBLISH_KEPT)
const READ_SCRIPT = script(READ_KEPT)

/** Runs `script` with EVALSHA, loading it with EVAL where the server does not know it (new or restarted). */
async function run(
  client: RedisClient,
  code: Script,
  keys: readonly string[],
  args: string[],
): Promise<unknown> {
  try {
    return await client.evalsha(code.sha, keys.length, ...keys, ...args)
  } catch (error) {
    if (!(error instanceof Error && error.message.startsWith('NOSCRIPT'))) throw error
    return await client.eval(code.source, keys.length, ...keys, ...args)
  }
}

/** Entries one read asks for; a reader that missed more pages. */
const READ_PAGE = 2_000
/** Live events of one type held while its replay is read; past it the oldest go (the replay reads on). */
const MAX_HELD_EVENTS = 100_000
/** Reads of one recovery at most, so a type written faster than it can be read still ends. */
const MAX_READS = 1_000

/** A position as the script writes it in the `id` slot: `@<offset>:<epoch>`, then `/<bridge id>` if any. */
const POSITION_ID = /^@(\d{1,16}):([^/]{1,64})(?:\/(.+))?$/

interface TypeState {
  epoch: string | undefined
  offset: number
  /** Live frames of the type received while it waits for its replay, in order. */
  held: Frame[] | undefined
  /** A replay of the type is being read. */
  isReading: boolean
  /** Losses of the subscribe connection seen, and the last one a recovery was asked for. */
  losses: number
  requested: number
  /** The position was read when the type was first listened to, not taken from an event received. */
  isTentative: boolean
  /** A replay ended here and no live event above it has come yet. */
  isSeam: boolean
}

/** What recovery needs from its target. */
export interface RecoveryHost {
  readonly client: RedisClient
  /** This node's events are not delivered back to it, nor counted as recovered. */
  readonly nodeId: string
  readonly prefix: string
  readonly isSharded: boolean
  readonly serializer: Serializer
  readonly reportError: (error: EventwireError) => void
  readonly reportStatus: (status: EventwireStatus) => void
  readonly counters: { dropped: number }
  isClosed(): boolean
  /** Delivers frames of `type` as received ones: own events skipped, sequence checked, paced. */
  deliver(type: string, frames: Frame[]): void
}

export class RedisRecovery {
  readonly #settings: RecoverySettings
  readonly #host: RecoveryHost
  readonly #states = new Map<string, TypeState>()
  readonly #epochPrefix = `r${Math.random().toString(36).slice(2, 10)}`
  #epochs = 0

  constructor(settings: RecoverySettings, host: RecoveryHost) {
    this.#settings = settings
    this.#host = host
  }

  isKept(type: string): boolean {
    return this.#settings.isKept(type)
  }

  /** Publishes the frames of a kept type through `via` with one script: appended, then published. */
  publish(via: RedisClient, channel: string, type: string, frames: readonly KeptFrame[]): Promise<unknown> {
    const base = historyKeyBase(this.#host.prefix, type)
    const args: string[] = [
      this.#newEpoch(),
      String(this.#settings.maxEvents),
      this.#cutoff(),
      channel,
      this.#host.isSharded ? '1' : '0',
    ]
    for (const frame of frames) {
      args.push(
        String(frame.time),
        frame.origin,
        frame.text,
        String(frame.hops),
        frame.id,
        String(frame.seq),
        frame.open,
      )
    }
    return run(via, PUBLISH_SCRIPT, [`${base}:history`, `${base}:meta`], args)
  }

  /** A type's first listener came: its position starts at the stream's latest, where nothing is missed. */
  listen(type: string): void {
    if (!this.isKept(type) || this.#states.has(type)) return
    const state: TypeState = {
      epoch: undefined,
      offset: 0,
      held: undefined,
      isReading: false,
      losses: 0,
      requested: 0,
      isTentative: false,
      isSeam: false,
    }
    this.#states.set(type, state)
    // Read at once, before SUBSCRIBE is likely answered: if this node is cut before its first live
    // event, the replay starts here, and may give events published just as it began to listen rather than
    // miss any. Tentative: live events are not checked against it, since the read may answer after events
    // that are still on their way to the subscribe connection.
    void this.#read(type, '', 0, 1).then(
      (answer) => {
        // A live event seen meanwhile is the newer position.
        if (state.epoch === undefined && this.#states.get(type) === state) {
          state.epoch = answer.epoch
          state.offset = answer.last
          state.isTentative = true
        }
      },
      () => {},
    )
  }

  /** The last listener left: the type's position is forgotten. */
  forget(type: string): void {
    this.#states.delete(type)
  }

  /**
   * Frames of a kept type as they arrive, before delivery: positions are read from the `id` slot (and the
   * slot given back its bridge identity), an event at or below the last position is dropped, and while
   * the type waits for its replay the frames are held. Answers the frames to deliver now.
   */
  observe(type: string, frames: Frame[]): Frame[] {
    const state = this.#states.get(type)
    if (state === undefined) return frames
    if (state.held !== undefined) {
      for (const frame of frames) state.held.push(frame)
      const excess = state.held.length - MAX_HELD_EVENTS
      // The oldest held are in the stream too: the replay reads on until it meets the first still held.
      if (excess > 0) state.held.splice(0, excess)
      return []
    }
    return this.#advance(state, frames)
  }

  /** The subscribe connection was lost: every kept type with a position holds its live events from now. */
  hold(): void {
    for (const state of this.#states.values()) {
      state.held ??= []
      state.losses++
    }
  }

  /** On close. */
  clear(): void {
    this.#states.clear()
  }

  /**
   * After the subscriptions were answered again: replays every held type from its position, then its
   * held events, and reports `recovered` or a `gap` with the reason, per type.
   */
  recover(since: number): void {
    for (const [type, state] of this.#states) {
      if (state.held === undefined) continue
      state.requested = state.losses
      if (state.isReading) continue
      state.isReading = true
      void this.#recoverUntilDone(type, state, since).finally(() => {
        state.isReading = false
      })
    }
  }

  /**
   * Recovers `type`, again when its connection was lost during a read and recovery was asked for after
   * that loss; a loss not yet followed by a `recover` leaves the events held for the next one.
   */
  async #recoverUntilDone(type: string, state: TypeState, since: number): Promise<void> {
    for (;;) {
      const upTo = state.losses
      await this.#recoverType(type, state, since, upTo)
      if (state.held === undefined || state.requested <= upTo || this.#states.get(type) !== state) return
    }
  }

  async #recoverType(type: string, state: TypeState, since: number, upTo: number): Promise<void> {
    const host = this.#host
    let count = 0
    let reason: 'epoch' | 'too-old' | 'ahead' | 'unavailable' | undefined
    /** The position is the last entry replayed (not one taken from a failed read). */
    let isReplayed = false
    if (state.epoch === undefined) reason = 'unavailable'
    try {
      for (let reads = 0; state.epoch !== undefined && reads < MAX_READS; reads++) {
        const answer = await this.#read(type, state.epoch, state.offset, READ_PAGE)
        if (this.#states.get(type) !== state || host.isClosed()) return
        if (answer.status === 'epoch' && reason === undefined) {
          // The stream was lost and begun again: what it holds now was all published after our last
          // event (we would have seen its epoch live otherwise), so it is replayed from its start.
          reason = 'epoch'
          state.epoch = answer.epoch
          state.offset = 0
          continue
        }
        if (answer.status !== 'ok') {
          reason ??= answer.status
          // Go on from the stream's end, or from just before the first live event held, never past it.
          state.epoch = answer.epoch
          const held = firstHeldOffset(state)
          state.offset = held === undefined ? answer.last : Math.min(answer.last, held - 1)
          isReplayed = false
          break
        }
        isReplayed = true
        const frames: Frame[] = []
        for (const raw of answer.entries) {
          const offset = this.#readEntry(type, raw, frames)
          if (offset !== undefined) {
            state.offset = offset
            state.isTentative = false
          }
        }
        for (const frame of frames) if (frame.kind === 'event' && frame.origin !== host.nodeId) count++
        if (frames.length > 0) host.deliver(type, frames)
        // Done once the replay reaches the stream's end as read, and meets the first live event held.
        const held = firstHeldOffset(state)
        if (state.offset >= answer.last && (held === undefined || held <= state.offset + 1)) break
        if (answer.entries.length === 0) break
      }
    } catch (cause) {
      reason = 'unavailable'
      host.reportError(
        cause instanceof EventwireError
          ? cause
          : new EventwireError('ERR_CONNECTION', `history of "${type}": ${String(cause)}`, {
              cause,
              eventType: type,
            }),
      )
    }
    if (this.#states.get(type) !== state || host.isClosed()) return
    // Lost again while reading: what was read is delivered, the live events stay held for the next replay.
    if (state.losses !== upTo) return
    const held = state.held ?? []
    state.held = undefined
    // The replay may have read further than the live messages had come: until a live event above the
    // last replayed one arrives, those at or below it are dropped, held or still on their way.
    state.isSeam = isReplayed
    const live = this.#advance(state, held)
    if (live.length > 0) host.deliver(type, live)
    if (reason === undefined) host.reportStatus({ type: 'recovered', eventType: type, count })
    else host.reportStatus({ type: 'gap', since, until: Date.now(), eventType: type, reason })
  }

  /**
   * Reads positions off `frames`; at the seam after a replay also drops those at or below the last
   * replayed offset of the same epoch, until the first one above it. Otherwise live events are never
   * dropped by offset (copies are dropped by sequence number): a frame with a forged position ahead then
   * moves the position only until the next real event, instead of silencing the type.
   */
  #advance(state: TypeState, frames: Frame[]): Frame[] {
    let kept: Frame[] | undefined
    for (let i = 0; i < frames.length; i++) {
      const frame = frames[i]!
      const match = frame.kind === 'event' && frame.id !== undefined ? POSITION_ID.exec(frame.id) : null
      if (match !== null && frame.kind === 'event') {
        const offset = Number(match[1])
        const epoch = match[2]!
        if (match[3] === undefined) delete frame.id
        else frame.id = match[3]
        if (state.isSeam && !state.isTentative && epoch === state.epoch && offset <= state.offset) {
          // Seen already: a replay delivered it, or a copy of a publish.
          kept ??= frames.slice(0, i)
          continue
        }
        state.epoch = epoch
        state.offset = offset
        state.isTentative = false
        state.isSeam = false
      }
      kept?.push(frame)
    }
    return kept ?? frames
  }

  /**
   * A stream entry `[id, [field, value, …]]` as an event frame pushed to `frames`; answers its offset.
   * An entry someone else wrote wrong is reported and skipped: the entries around it are still replayed.
   */
  #readEntry(type: string, raw: unknown, frames: Frame[]): number | undefined {
    const host = this.#host
    const id = Array.isArray(raw) && typeof raw[0] === 'string' ? raw[0] : undefined
    const offset = id?.startsWith('0-') ? Number(id.slice(2)) : Number.NaN
    const fields: unknown = Array.isArray(raw) ? raw[1] : undefined
    let origin: string | undefined
    let text: string | undefined
    let hops = 0
    let seq: number | undefined
    let bridgeId: string | undefined
    if (Array.isArray(fields)) {
      for (let i = 0; i + 1 < fields.length; i += 2) {
        const value: unknown = fields[i + 1]
        if (typeof value !== 'string') continue
        if (fields[i] === 'o') origin = value
        else if (fields[i] === 'd') text = value
        else if (fields[i] === 'h') hops = Number(value)
        else if (fields[i] === 's') seq = Number(value)
        else if (fields[i] === 'i') bridgeId = value
      }
    }
    const isValid =
      Number.isSafeInteger(offset) &&
      origin !== undefined &&
      origin.length > 0 &&
      origin.length <= 128 &&
      text !== undefined &&
      Number.isInteger(hops) &&
      hops >= 0 &&
      hops <= 255 &&
      (seq === undefined || (Number.isSafeInteger(seq) && seq >= 0))
    if (!isValid) {
      host.counters.dropped++
      host.reportError(
        new EventwireError('ERR_FRAME_MALFORMED', `history of "${type}": a malformed entry was skipped`, {
          eventType: type,
        }),
      )
      return Number.isSafeInteger(offset) ? offset : undefined
    }
    let detail: unknown
    try {
      detail = this.#host.serializer.parse(text!)
    } catch (cause) {
      host.counters.dropped++
      host.reportError(
        new EventwireError('ERR_SERIALIZE', `history of "${type}": an entry's detail cannot be parsed`, {
          cause,
          eventType: type,
        }),
      )
      return offset
    }
    const frame: Frame = { kind: 'event', type, origin: origin!, detail, hops }
    if (seq !== undefined) frame.seq = seq
    if (bridgeId !== undefined && bridgeId.length > 0 && bridgeId.length <= 128) frame.id = bridgeId
    frames.push(frame)
    return offset
  }

  async #read(type: string, epoch: string, offset: number, limit: number): Promise<ReadAnswer> {
    const base = historyKeyBase(this.#host.prefix, type)
    const args = [this.#newEpoch(), epoch, String(offset), `0-${offset + 1}`, String(limit), this.#cutoff()]
    const reply = await run(this.#host.client, READ_SCRIPT, [`${base}:history`, `${base}:meta`], args)
    const malformed = () =>
      new EventwireError('ERR_FRAME_MALFORMED', `history of "${type}": unexpected reply from Redis`, {
        eventType: type,
      })
    if (!Array.isArray(reply)) throw malformed()
    const [current, rawLast, status, entries] = reply as unknown[]
    const last = Number(rawLast)
    if (typeof current !== 'string' || !Number.isSafeInteger(last)) throw malformed()
    if (status === 'ok' && Array.isArray(entries)) return { status, epoch: current, last, entries }
    if (status === 'epoch' || status === 'too-old' || status === 'ahead') {
      return { status, epoch: current, last, entries: [] }
    }
    throw malformed()
  }

  #cutoff(): string {
    const maxAgeMs = this.#settings.maxAgeMs
    return String(maxAgeMs === Number.POSITIVE_INFINITY ? -Number.MAX_VALUE : Date.now() - maxAgeMs)
  }

  #newEpoch(): string {
    return `${this.#epochPrefix}${(this.#epochs++).toString(36)}`
  }
}

interface ReadAnswer {
  readonly status: 'ok' | 'epoch' | 'too-old' | 'ahead'
  readonly epoch: string
  readonly last: number
  readonly entries: readonly unknown[]
}

/** The offset of the first held event that carries a position in the type's epoch, if any. */
function firstHeldOffset(state: TypeState): number | undefined {
  for (const frame of state.held ?? []) {
    if (frame.kind !== 'event' || frame.id === undefined) continue
    const match = POSITION_ID.exec(frame.id)
    if (match !== null && match[2] === state.epoch) return Number(match[1])
  }
  return undefined
}
