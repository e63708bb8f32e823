import { createHash } from 'node:crypto'
import { DEFAULTS } from '../core/defaults.js'
import { EventwireError, invalidOption } from '../core/errors.js'
import { DEFAULT_FRAME_LIMITS } from '../core/frame.js'
import type {
  HistoryEntry,
  HistoryLossReason,
  HistoryPosition,
  HistoryRecord,
  HistorySince,
  HistorySinceOptions,
  HistoryStore,
} from '../core/history.js'
import {
  checkEpoch,
  checkLimit,
  checkOffset,
  checkRecord,
  checkType,
  clockOption,
  positiveOption,
} from '../core/history-checks.js'
import { createNodeId } from '../core/link.js'
import { type RedisClient, readClient } from './client.js'
import { hashSlot } from './cluster.js'

/**
 * A `HistoryStore` in Redis Streams (docs/recovery.md), shared by every hub or peer that uses the same
 * Redis and prefix, and kept across their restarts.
 *
 * Per type, two keys in the hash slot of the type's channel (`prefix + type`):
 * - `…:history`, a stream whose entry ids are `0-<offset>`: `XADD … 0-*` makes Redis number the entries
 *   1, 2, 3, … itself, and the stream keeps its last number when it is trimmed, so an offset is the
 *   stream's own sequence and `XRANGE 0-<offset + 1> +` reads from it;
 * - `…:meta`, a hash with the type's `epoch` and the `last` offset handed out in it.
 * Every call is one Lua script over both keys, so an epoch and the offsets it names change together.
 * The epoch is made once and changes only when the stream that had entries is gone (deleted, or lost
 * with a Redis that restarted without persistence) or the epoch itself was lost.
 */

export interface RedisHistoryOptions {
  /**
   * Runs the scripts: an ioredis `Redis` or `Cluster` that is not in subscriber mode (a target's
   * `publishClient` will do). It stays open: it is yours.
   */
  readonly client: RedisClient
  /** The Redis target's `prefix`: the keys are placed in the hash slot of the type's channel. @default '' */
  readonly prefix?: string
  /**
   * Entries kept per type (`MAXLEN ~`: Redis trims whole nodes of the stream, so a few dozen to a hundred
   * more may stay). @default 1_000
   */
  readonly maxEvents?: number
  /** An entry older than this is trimmed (a bounded part on each append) and never replayed. @default 300_000 */
  readonly maxAgeMs?: number
  /** Longest type accepted, as the target's `limits.maxTypeLength`. @default 256 */
  readonly maxTypeLength?: number
  /** Entries appended by one script at most; appends of a type in the same tick share a script. @default 512 */
  readonly maxBatchEvents?: number
  /**
   * The clock for entries' times and for the age bound, in ms since 1970 (tests pass a fake one). Every
   * writer's clock counts: keep them synchronized, as a skew shifts the age window. @default Date.now
   */
  readonly now?: () => number
}

/** A `HistoryStore` whose answers are promises; arguments are checked at once, as on every store. */
export interface RedisHistory extends HistoryStore {
  append(type: string, record: HistoryRecord): Promise<HistoryPosition>
  since(type: string, epoch: string, offset: number, options?: HistorySinceOptions): Promise<HistorySince>
  latest(type: string): Promise<HistoryPosition>
  /** The keys that hold `type`'s history (for operators and tests). */
  keys(type: string): { readonly history: string; readonly meta: string }
}

/** Entries one `since` reads at most, whatever `limit` asks: bounds the work of one script. */
const MAX_SINCE_LIMIT = 10_000
/** Bytes of text one append script carries at most (one entry is always taken, whatever its size). */
const MAX_BATCH_TEXT = 1024 * 1024

/**
 * The epoch and last offset of a type, made when missing. Shared by both scripts. A stream that exists
 * with no epoch beside it (the epoch was deleted) keeps its numbering; a missing stream whose epoch
 * says entries were handed out (the stream was deleted, or only part of the data came back) starts a new
 * epoch from offset 0.
 */
export const POSITION = `
local function position()
  local meta = redis.call('HMGET', KEYS[2], 'epoch', 'last')
  local epoch, last = meta[1], meta[2]
  local exists = redis.call('EXISTS', KEYS[1]) == 1
  if epoch and last and (exists or last == '0') then return epoch, last end
  last = '0'
  if exists then
    local info = redis.call('XINFO', 'STREAM', KEYS[1])
    for i = 1, #info, 2 do
      if info[i] == 'last-generated-id' then last = string.sub(info[i + 1], 3) end
    end
  end
  epoch = ARGV[1]
  redis.call('HSET', KEYS[2], 'epoch', epoch, 'last', last)
  return epoch, last
end
`

/**
 * Trims the stream KEYS[1] to ARGV[2] entries (`MAXLEN ~`) and removes entries older than the cutoff
 * ARGV[3] from its front, at most 64 a call. An entry whose time is not a number (written by hand) counts
 * as young: it is left for the count bound, and a reader reports it.
 */
export const TRIM = `
redis.call('XTRIM', KEYS[1], 'MAXLEN', '~', ARGV[2])
local cutoff = tonumber(ARGV[3])
local oldest = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', 1)[1]
if oldest and (tonumber(oldest[2][2]) or cutoff) < cutoff then
  local head = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', 64)
  local keep = nil
  for _, entry in ipairs(head) do
    if (tonumber(entry[2][2]) or cutoff) >= cutoff then
      keep = entry[1]
      break
    end
  end
  if keep == nil then
    keep = '0-' .. string.format('%d', tonumber(string.sub(head[#head][1], 3)) + 1)
  end
  redis.call('XTRIM', KEYS[1], 'MINID', keep)
end
`

/**
 * KEYS: stream, meta. ARGV: a new epoch in case one is needed, maxEvents, the age cutoff (ms), then 5
 * per entry: time, origin, text, hops, id ('' for none). Answers { epoch, last offset }. Time is the
 * first field of every entry, so the age check reads `fields[2]`.
 */
const APPEND = `${POSITION}
local epoch = position()
local id
for i = 4, #ARGV, 5 do
  if ARGV[i + 4] ~= '' then
    id = redis.call('XADD', KEYS[1], '0-*', 't', ARGV[i], 'o', ARGV[i + 1], 'd', ARGV[i + 2], 'h', ARGV[i + 3], 'i', ARGV[i + 4])
  else
    id = redis.call('XADD', KEYS[1], '0-*', 't', ARGV[i], 'o', ARGV[i + 1], 'd', ARGV[i + 2], 'h', ARGV[i + 3])
  end
end
local last = string.sub(id, 3)
redis.call('HSET', KEYS[2], 'last', last)
${TRIM}
return { epoch, last }
`

/**
 * KEYS: stream, meta. ARGV: a new epoch in case one is needed, the reader's epoch ('' for none), its
 * offset, the id after it, the limit, the age cutoff (ms). Answers { epoch, last, 'ok', entries } or
 * { epoch, last, reason }.
 */
const SINCE = `${POSITION}
local epoch, last = position()
if ARGV[2] ~= epoch then return { epoch, last, 'epoch' } end
if tonumber(ARGV[3]) > tonumber(last) then return { epoch, last, 'ahead' } end
if ARGV[3] == last then return { epoch, last, 'ok', {} } end
local entries = redis.call('XRANGE', KEYS[1], ARGV[4], '+', 'COUNT', ARGV[5])
local first = entries[1]
if first == nil or first[1] ~= ARGV[4] or tonumber(first[2][2]) < tonumber(ARGV[6]) then
  return { epoch, last, 'too-old' }
end
return { epoch, last, 'ok', entries }
`

export interface Script {
  readonly source: string
  readonly sha: string
}

export function script(source: string): Script {
  return { source, sha: createHash('sha1').update(source).digest('hex') }
}

const APPEND_SCRIPT = script(APPEND)
const SINCE_SCRIPT = script(SINCE)

/** A short tag without braces for each hash slot, found once: see `historyKeyBase`. */
const slotTags = new Map<number, string>()

function tagForSlot(slot: number): string {
  let tag = slotTags.get(slot)
  for (let n = 0; tag === undefined; n++) {
    const candidate = `h${n.toString(36)}`
    const candidateSlot = hashSlot(candidate)
    if (!slotTags.has(candidateSlot)) slotTags.set(candidateSlot, candidate)
    if (candidateSlot === slot) tag = candidate
  }
  return tag
}

/**
 * The beginning of a type's keys, in the hash slot of its channel `prefix + type`, so that on a Redis
 * Cluster one script may append to the history and SPUBLISH on the channel (a script may touch only
 * keys and shard channels of its node's slots). A channel without braces, the usual case, gives
 * `{<channel>}`. A channel with a brace is hashed by Redis on its own hash tag, or whole when it has
 * none, which `{<channel>}` would not reproduce; it gives `{<tag>}<channel>`, with a short tag found
 * for its slot. Distinct channels always give distinct keys.
 */
export function historyKeyBase(prefix: string, type: string): string {
  const channel = prefix + type
  if (!channel.includes('{') && !channel.includes('}')) return `{${channel}}`
  return `{${tagForSlot(hashSlot(channel))}}${channel}`
}

function connectionError(cause: unknown, type: string): EventwireError {
  if (cause instanceof EventwireError) return cause
  const message = cause instanceof Error ? cause.message : String(cause)
  return new EventwireError('ERR_CONNECTION', `history of "${type}": ${message}`, { cause, eventType: type })
}

function malformed(type: string): EventwireError {
  return new EventwireError('ERR_FRAME_MALFORMED', `history of "${type}": unexpected reply from Redis`, {
    eventType: type,
  })
}

function isNoScript(error: unknown): boolean {
  return error instanceof Error && error.message.startsWith('NOSCRIPT')
}

interface PendingAppend {
  /** time, origin, text, hops, id: the script's five arguments per entry. */
  readonly args: readonly [string, string, string, string, string]
  readonly resolve: (position: HistoryPosition) => void
  readonly reject: (error: EventwireError) => void
}

/** The appends of one type waiting for their script; one script per type runs at a time, in order. */
interface AppendQueue {
  pending: PendingAppend[]
}

/** Creates a history in Redis Streams over `client` (a `Redis` or a `Cluster`). */
export function createRedisHistory(options: RedisHistoryOptions): RedisHistory {
  return new RedisStreamHistory(options)
}

class RedisStreamHistory implements RedisHistory {
  readonly #client: RedisClient
  readonly #prefix: string
  readonly #maxEvents: number
  readonly #maxAgeMs: number
  readonly #maxTypeLength: number
  readonly #maxBatchEvents: number
  readonly #now: () => number
  readonly #id = createNodeId()
  #epochs = 0
  /** Types with appends waiting or running; a type leaves when its queue is empty. */
  readonly #queues = new Map<string, AppendQueue>()

  constructor(options: RedisHistoryOptions) {
    if (typeof options !== 'object' || options === null) invalidOption('options', 'an object', options)
    this.#client = readClient('client', options.client)
    const prefix = options.prefix ?? ''
    if (typeof prefix !== 'string') invalidOption('prefix', 'a string', prefix)
    this.#prefix = prefix
    this.#maxEvents = positiveOption('maxEvents', options.maxEvents, DEFAULTS.historyMaxEvents)
    this.#maxAgeMs = positiveOption('maxAgeMs', options.maxAgeMs, DEFAULTS.historyMaxAgeMs, true)
    this.#maxTypeLength = positiveOption(
      'maxTypeLength',
      options.maxTypeLength,
      DEFAULT_FRAME_LIMITS.maxTypeLength,
    )
    this.#maxBatchEvents = positiveOption('maxBatchEvents', options.maxBatchEvents, 512)
    this.#now = clockOption(options.now)
  }

  keys(type: string): { readonly history: string; readonly meta: string } {
    checkType(type, this.#maxTypeLength)
    const base = historyKeyBase(this.#prefix, type)
    return { history: `${base}:history`, meta: `${base}:meta` }
  }

  append(type: string, record: HistoryRecord): Promise<HistoryPosition> {
    checkType(type, this.#maxTypeLength)
    checkRecord(record)
    const text = record.text ?? encodeDetail(type, record.detail)
    const time = record.time ?? this.#now()
    const args = [String(time), record.origin, text, String(record.hops ?? 0), record.id ?? ''] as const
    return new Promise((resolve, reject) => {
      let queue = this.#queues.get(type)
      if (queue === undefined) {
        queue = { pending: [] }
        this.#queues.set(type, queue)
        // The appends of this tick go out together, at the end of the task, as a target's publishes do.
        queueMicrotask(() => void this.#drain(type, queue!))
      }
      queue.pending.push({ args, resolve, reject })
    })
  }

  since(type: string, epoch: string, offset: number, options?: HistorySinceOptions): Promise<HistorySince> {
    checkType(type, this.#maxTypeLength)
    checkEpoch(epoch)
    checkOffset(offset)
    const limit = Math.min(checkLimit(options?.limit, DEFAULTS.historySinceLimit), MAX_SINCE_LIMIT)
    return this.#since(type, epoch, offset, limit)
  }

  latest(type: string): Promise<HistoryPosition> {
    checkType(type, this.#maxTypeLength)
    // An epoch no store makes (empty) is answered with the position and nothing else.
    return this.#since(type, '', 0, 1).then((result) => result.latest)
  }

  /** Runs the queued appends of `type`, one script at a time, so offsets follow the order of the calls. */
  async #drain(type: string, queue: AppendQueue): Promise<void> {
    const { history, meta } = this.keys(type)
    while (queue.pending.length > 0) {
      let count = 0
      let bytes = 0
      while (count < queue.pending.length && count < this.#maxBatchEvents) {
        bytes += queue.pending[count]!.args[2].length
        if (count > 0 && bytes > MAX_BATCH_TEXT) break
        count++
      }
      const batch = queue.pending.splice(0, count)
      const args: string[] = [this.#newEpoch(), String(this.#maxEvents), this.#cutoff()]
      for (const pending of batch) args.push(...pending.args)
      try {
        const reply = await this.#run(APPEND_SCRIPT, history, meta, args)
        const [epoch, last] = readPosition(reply, type)
        const first = last - batch.length + 1
        for (let i = 0; i < batch.length; i++) batch[i]!.resolve({ epoch, offset: first + i })
      } catch (error) {
        const failure = connectionError(error, type)
        for (const pending of batch) pending.reject(failure)
      }
    }
    this.#queues.delete(type)
  }

  async #since(type: string, epoch: string, offset: number, limit: number): Promise<HistorySince> {
    const { history, meta } = this.keys(type)
    const args = [this.#newEpoch(), epoch, String(offset), `0-${offset + 1}`, String(limit), this.#cutoff()]
    let reply: unknown
    try {
      reply = await this.#run(SINCE_SCRIPT, history, meta, args)
    } catch (error) {
      throw connectionError(error, type)
    }
    const [current, last] = readPosition(reply, type)
    const latest: HistoryPosition = { epoch: current, offset: last }
    const status = (reply as unknown[])[2]
    if (status === 'ok') {
      const raw = (reply as unknown[])[3]
      if (!Array.isArray(raw)) throw malformed(type)
      const entries = raw.map((item) => readEntry(item, type, current))
      // Entries deleted from the middle of the stream by hand (XDEL) leave a hole the offsets show.
      if (entries.some((entry, i) => entry.offset !== offset + 1 + i)) {
        return { recovered: false, reason: 'too-old', latest }
      }
      return { recovered: true, entries, latest }
    }
    if (status === 'epoch' || status === 'ahead' || status === 'too-old') {
      return { recovered: false, reason: status satisfies HistoryLossReason, latest }
    }
    throw malformed(type)
  }

  /**
   * The time before which entries are too old, as the scripts read it: a finite number, since a Lua
   * number cannot be read from every spelling of infinity.
   */
  #cutoff(): string {
    return String(
      this.#maxAgeMs === Number.POSITIVE_INFINITY ? -Number.MAX_VALUE : this.#now() - this.#maxAgeMs,
    )
  }

  /** A new epoch, used by a script only if the type has none or its stream was lost. */
  #newEpoch(): string {
    return `${this.#id}${(this.#epochs++).toString(36)}`
  }

  /**
   * EVALSHA, or EVAL when the node does not know the script (a new or restarted node: each node of a
   * Cluster has its own cache). The keys route the call to the slot's node on a Cluster.
   */
  async #run(script: Script, stream: string, meta: string, args: string[]): Promise<unknown> {
    try {
      return await this.#client.evalsha(script.sha, 2, stream, meta, ...args)
    } catch (error) {
      if (!isNoScript(error)) throw error
      return await this.#client.eval(script.source, 2, stream, meta, ...args)
    }
  }
}

/** JSON of a detail given without text; a detail JSON cannot hold is refused as dispatch refuses it. */
function encodeDetail(type: string, detail: unknown): string {
  try {
    return JSON.stringify(detail === undefined ? null : detail) ?? 'null'
  } catch (cause) {
    throw new EventwireError('ERR_SERIALIZE', `the detail of "${type}" cannot be serialized`, {
      cause,
      eventType: type,
    })
  }
}

function readPosition(reply: unknown, type: string): [string, number] {
  if (!Array.isArray(reply)) throw malformed(type)
  const [epoch, last] = reply as unknown[]
  const offset = Number(last)
  if (typeof epoch !== 'string' || !Number.isSafeInteger(offset) || offset < 0) throw malformed(type)
  return [epoch, offset]
}

/** A stream entry `[id, [field, value, …]]` as a `HistoryEntry`. */
function readEntry(item: unknown, type: string, epoch: string): HistoryEntry {
  if (!Array.isArray(item) || typeof item[0] !== 'string' || !Array.isArray(item[1])) throw malformed(type)
  const id: string = item[0]
  const fields = item[1] as unknown[]
  let time = Number.NaN
  let origin: string | undefined
  let text: string | undefined
  let hops = 0
  let eventId: string | undefined
  for (let i = 0; i + 1 < fields.length; i += 2) {
    const value = fields[i + 1]
    if (typeof value !== 'string') throw malformed(type)
    switch (fields[i]) {
      case 't':
        time = Number(value)
        break
      case 'o':
        origin = value
        break
      case 'd':
        text = value
        break
      case 'h':
        hops = Number(value)
        break
      case 'i':
        eventId = value
        break
    }
  }
  const offset = Number(id.slice(2))
  if (
    !id.startsWith('0-') ||
    !Number.isSafeInteger(offset) ||
    origin === undefined ||
    Number.isNaN(time) ||
    !Number.isInteger(hops)
  ) {
    throw malformed(type)
  }
  return { epoch, offset, type, origin, text, detail: undefined, hops, id: eventId, time }
}
