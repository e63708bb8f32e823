import { EventwireError, type EventwireErrorCode, isEventwireErrorCode } from './errors.js'
import { jsonSerializer } from './serializer.js'
import type { Serializer } from './types.js'

/**
 * The frame protocol every hub/spoke link speaks (docs/protocol.md). A frame is a JSON array whose first
 * element is the kind; control lives in the kind, never in the event type, so no event name is reserved.
 */
export const PROTOCOL_VERSION = 1

export const FRAME_HELLO = 0
export const FRAME_EVENT = 1
export const FRAME_SUB = 2
export const FRAME_UNSUB = 3
export const FRAME_BATCH = 4
export const FRAME_ERROR = 5
export const FRAME_PING = 6
export const FRAME_PONG = 7
export const FRAME_BYE = 8
/**
 * Several events of one type and origin in a row, one detail each: `[9, type, origin, hops, d1, d2, …]`.
 * Sent only to a node whose hello lists the `run` feature; decoded into event frames.
 */
export const FRAME_RUN = 9
/**
 * `[10, type, epoch, offset]`: the next event of `type` on this link has this history position, and each
 * event of `type` after it one offset more, until the next position frame. `[10, type]`: the next events
 * of `type` carry no position (sent only to one spoke, outside the history). Sent only to a node whose
 * hello lists `resume` (docs/recovery.md).
 */
export const FRAME_POSITION = 10
/**
 * `[11, type, epoch, offset]`: subscribe to `type` and first replay what came after `offset` (the last one
 * received) in `epoch`. Sent only to a hub whose hello lists `resume`.
 */
export const FRAME_RESUME = 11
/**
 * `[12, type, outcome, count]`: the answer to a resume frame, written after the replayed events:
 * `recovered` (and how many were replayed), or why not (`epoch`, `too-old`, `ahead`, `unavailable`).
 */
export const FRAME_RESUMED = 12
/**
 * The id of every heartbeat ping, so that a heartbeat is always the same text (`[6,0]`): a platform that
 * answers one fixed message without running the hub (a Durable Object's WebSocket auto-response) can
 * answer it. Handshake and `flush()` pings count from 1, so a heartbeat's pong never settles them.
 */
export const HEARTBEAT_PING_ID = 0

/** Optional abilities a node lists in its hello; a sender uses one only if the other side lists it. */
export type Feature = 'run' | 'resume'

/** How a resume frame was answered: recovered, or why not (docs/recovery.md). */
export type ResumeOutcome = 'recovered' | 'epoch' | 'too-old' | 'ahead' | 'unavailable'

const RESUME_OUTCOMES: ReadonlySet<unknown> = new Set<ResumeOutcome>([
  'recovered',
  'epoch',
  'too-old',
  'ahead',
  'unavailable',
])

/**
 * What a node says it is in its hello: a `hub` routes by interest; a `spoke` sends every event to its hub;
 * a `peer` (two-party links) also routes: it sends the other side only the types that side subscribed to,
 * once the other side has said it is a peer too.
 */
export type NodeRole = 'hub' | 'spoke' | 'peer'

const ROLES: ReadonlySet<unknown> = new Set<NodeRole>(['hub', 'spoke', 'peer'])

export type Frame =
  | {
      kind: 'hello'
      version: number
      nodeId: string
      role: NodeRole | undefined
      /** What the sender can decode beyond the base protocol; unknown names are kept and ignored. */
      features?: readonly string[]
    }
  | {
      kind: 'event'
      type: string
      origin: string
      detail: unknown
      hops: number
      /**
       * The dispatcher's sequence number, on links that can duplicate or reorder (Redis): increasing per
       * origin, so a receiver drops a copy or a late arrival. Absent on hub-and-spoke links.
       */
      seq?: number
      /** The identity the first bridge it crossed gave it; absent on events that never crossed one. */
      id?: string
    }
  | { kind: 'sub'; type: string }
  | { kind: 'unsub'; type: string }
  | { kind: 'error'; code: EventwireErrorCode; message: string; eventType: string | undefined }
  | { kind: 'ping'; id: number }
  | { kind: 'pong'; id: number }
  | { kind: 'bye'; code: number; reason: string }
  /** `epoch` undefined: the next events of `type` carry no history position. */
  | { kind: 'position'; type: string; epoch: string | undefined; offset: number }
  | { kind: 'resume'; type: string; epoch: string; offset: number }
  | { kind: 'resumed'; type: string; outcome: ResumeOutcome; count: number }

export interface FrameLimits {
  /**
   * Largest frame accepted, in bytes (string frames are measured in UTF-16 code units, a lower bound of
   * their UTF-8 size). A larger frame is refused with `ERR_FRAME_TOO_LARGE` before it is parsed.
   * @default 4 MiB
   */
  maxFrameBytes: number
  /** Longest event type accepted. @default 256 */
  maxTypeLength: number
  /** Most frames one batch frame may carry. @default 10_000 */
  maxBatchFrames: number
}

export const DEFAULT_FRAME_LIMITS: Readonly<FrameLimits> = Object.freeze({
  maxFrameBytes: 4 * 1024 * 1024,
  maxTypeLength: 256,
  maxBatchFrames: 10_000,
})

/** Longest node id accepted in a hello or an event's origin. */
const MAX_NODE_ID_LENGTH = 128
const MAX_ERROR_MESSAGE_LENGTH = 1024
/** A WebSocket close reason's limit, so a bye's reason fits any link's own close. */
const MAX_BYE_REASON_LENGTH = 123
/** Features a hello may list, and the longest name, so a hello stays small whatever a peer sends. */
const MAX_FEATURES = 16
const MAX_FEATURE_LENGTH = 32
/** Bridges an event may have crossed on the wire; bridges cut far earlier (their `hopLimit`). */
const MAX_HOPS = 255
/** Longest history epoch on the wire, as the history stores bound it. */
const MAX_EPOCH_LENGTH = 64

export type DecodeResult = { ok: true; frames: Frame[] } | { ok: false; error: EventwireError }

/**
 * The layout of every frame, written once: the text codec stringifies these arrays, and the clone codec
 * hands them to `postMessage` as they are. `hops` (bridges crossed) is written only when above 0 or when a
 * `seq` or an `id` follows it, and `seq` (null when absent) only when an `id` follows it, so most event
 * frames keep four elements.
 */
export const frameLayout = {
  event: (type: string, origin: string, detail: unknown, hops = 0, seq?: number, id?: string): unknown[] => {
    if (id !== undefined) return [FRAME_EVENT, type, origin, detail, hops, seq ?? null, id]
    if (seq !== undefined) return [FRAME_EVENT, type, origin, detail, hops, seq]
    return hops > 0 ? [FRAME_EVENT, type, origin, detail, hops] : [FRAME_EVENT, type, origin, detail]
  },
  hello: (nodeId: string, role: NodeRole, features: readonly string[] = []): unknown[] =>
    features.length > 0
      ? [FRAME_HELLO, PROTOCOL_VERSION, nodeId, role, features]
      : [FRAME_HELLO, PROTOCOL_VERSION, nodeId, role],
  sub: (type: string): unknown[] => [FRAME_SUB, type],
  unsub: (type: string): unknown[] => [FRAME_UNSUB, type],
  ping: (id: number): unknown[] => [FRAME_PING, id],
  pong: (id: number): unknown[] => [FRAME_PONG, id],
  /** Error frames carry a code and a short message, never a stack trace. */
  error: (code: EventwireErrorCode, message: string, eventType?: string): unknown[] => [
    FRAME_ERROR,
    code,
    message.slice(0, MAX_ERROR_MESSAGE_LENGTH),
    eventType ?? null,
  ],
  /** A node closing the link on purpose says so first, with a close code (1000 to 4999) and a reason. */
  bye: (code: number, reason: string): unknown[] => [FRAME_BYE, code, reason.slice(0, MAX_BYE_REASON_LENGTH)],
  /** Without an epoch: the next events of `type` carry no position. */
  position: (type: string, epoch?: string, offset = 0): unknown[] =>
    epoch === undefined ? [FRAME_POSITION, type] : [FRAME_POSITION, type, epoch, offset],
  resume: (type: string, epoch: string, offset: number): unknown[] => [FRAME_RESUME, type, epoch, offset],
  resumed: (type: string, outcome: ResumeOutcome, count: number): unknown[] => [
    FRAME_RESUMED,
    type,
    outcome,
    count,
  ],
}

/**
 * Encodes an event frame (`frameLayout.event` as text); throws `ERR_SERIALIZE` when the detail cannot be
 * serialized.
 */
export function encodeEvent(
  type: string,
  origin: string,
  detail: unknown,
  serializer: Serializer,
  hops = 0,
  seq?: number,
  id?: string,
): string {
  try {
    const payload = serializer === jsonSerializer ? detail : serializer.stringify(detail)
    if (typeof payload !== 'string' && serializer !== jsonSerializer) {
      throw new TypeError('serializer.stringify did not return a string')
    }
    const value = payload === undefined ? null : payload
    if (id !== undefined || (seq !== undefined && !Number.isSafeInteger(seq))) {
      return JSON.stringify(frameLayout.event(type, origin, value, hops, seq, id))
    }
    // The same text as stringifying the whole array, without building it: the head of the frame depends
    // only on the type and the origin, which repeat, so only the detail is stringified per event. The
    // Redis target writes a sequence number on every event: an integer, whose text is its JSON.
    const detailText = JSON.stringify(value)
    if (detailText === undefined) throw new TypeError('the detail does not serialize to JSON')
    const head = eventHead(type, origin)
    if (seq !== undefined) return `${head}${detailText},${hops},${seq}]`
    return hops > 0 ? `${head}${detailText},${hops}]` : `${head}${detailText}]`
  } catch (cause) {
    throw new EventwireError('ERR_SERIALIZE', `the detail of "${type}" cannot be serialized`, {
      cause,
      eventType: type,
    })
  }
}

/** `[1,"type","origin",` for the most recent (type, origin) pairs (one string each: compare by identity). */
const heads = new Map<string, Map<string, string>>()
/** Pairs remembered at most: a hub relays many origins, and each type is at most `maxTypeLength` long. */
const MAX_HEADS = 1_024
let headCount = 0

export function eventHead(type: string, origin: string): string {
  let byOrigin = heads.get(type)
  const cached = byOrigin?.get(origin)
  if (cached !== undefined) return cached
  const head = `[${FRAME_EVENT},${JSON.stringify(type)},${JSON.stringify(origin)},`
  if (headCount >= MAX_HEADS) {
    heads.clear()
    headCount = 0
    byOrigin = undefined
  }
  if (byOrigin === undefined) {
    byOrigin = new Map()
    heads.set(type, byOrigin)
  }
  byOrigin.set(origin, head)
  headCount++
  return head
}

export function encodeHello(nodeId: string, role: NodeRole, features: readonly string[] = []): string {
  return JSON.stringify(frameLayout.hello(nodeId, role, features))
}

export function encodeSub(type: string): string {
  return JSON.stringify(frameLayout.sub(type))
}

export function encodeUnsub(type: string): string {
  return JSON.stringify(frameLayout.unsub(type))
}

export function encodePing(id: number): string {
  return JSON.stringify(frameLayout.ping(id))
}

export function encodePong(id: number): string {
  return JSON.stringify(frameLayout.pong(id))
}

export function encodeBye(code: number, reason: string): string {
  return JSON.stringify(frameLayout.bye(code, reason))
}

export function encodePosition(type: string, epoch?: string, offset?: number): string {
  return JSON.stringify(frameLayout.position(type, epoch, offset))
}

export function encodeResume(type: string, epoch: string, offset: number): string {
  return JSON.stringify(frameLayout.resume(type, epoch, offset))
}

export function encodeResumed(type: string, outcome: ResumeOutcome, count: number): string {
  return JSON.stringify(frameLayout.resumed(type, outcome, count))
}

export function encodeError(code: EventwireErrorCode, message: string, eventType?: string): string {
  return JSON.stringify(frameLayout.error(code, message, eventType))
}

/** Joins already-encoded frames into one batch frame without re-encoding them. */
export function encodeBatch(frames: readonly string[]): string {
  return `[${FRAME_BATCH},${frames.join(',')}]`
}

/**
 * Decodes one text message (a frame or a batch of frames). Never throws: hostile input yields a typed
 * error, and a batch is accepted whole or not at all.
 */
export function decodeFrames(
  data: string,
  limits: FrameLimits = DEFAULT_FRAME_LIMITS,
  serializer: Serializer = jsonSerializer,
): DecodeResult {
  if (typeof data !== 'string') return malformed('a frame must be text')
  if (data.length > limits.maxFrameBytes) {
    return {
      ok: false,
      error: new EventwireError(
        'ERR_FRAME_TOO_LARGE',
        `frame of ${data.length} bytes exceeds maxFrameBytes (${limits.maxFrameBytes})`,
      ),
    }
  }
  let raw: unknown
  try {
    raw = JSON.parse(data)
  } catch (cause) {
    return {
      ok: false,
      error: new EventwireError('ERR_FRAME_MALFORMED', 'frame is not valid JSON', { cause }),
    }
  }
  return validateFrames(raw, limits, serializer === jsonSerializer ? undefined : serializer)
}

/**
 * Validates an already parsed message (a frame array or a batch), as received from JSON or from a
 * structured-clone link. With `serializer`, event details must be strings and are parsed by it; without,
 * they are taken as they are. Never throws.
 */
export function validateFrames(raw: unknown, limits: FrameLimits, serializer?: Serializer): DecodeResult {
  if (!Array.isArray(raw) || raw.length === 0) return malformed('a frame must be a non-empty array')
  if (raw[0] === FRAME_RUN) {
    const frames: Frame[] = []
    const error = decodeRun(raw, limits, serializer, frames)
    return error === undefined ? { ok: true, frames } : { ok: false, error }
  }
  if (raw[0] !== FRAME_BATCH) {
    const frame = decodeOne(raw, limits, serializer)
    // `instanceof Error`: the engine's own check (EventwireError's spans copies of the package, and costs
    // more on this path, once per frame).
    return frame instanceof Error ? { ok: false, error: frame } : { ok: true, frames: [frame] }
  }
  const count = raw.length - 1
  if (count === 0) return malformed('a batch frame must carry at least one frame')
  if (count > limits.maxBatchFrames) {
    return malformed(`a batch of ${count} frames exceeds maxBatchFrames (${limits.maxBatchFrames})`)
  }
  const frames: Frame[] = []
  for (let i = 0; i < count; i++) {
    const item: unknown = raw[i + 1]
    if (!Array.isArray(item) || item.length === 0) return malformed(`batch item ${i} is not a frame`)
    if (item[0] === FRAME_BATCH) return malformed('batch frames cannot be nested')
    if (item[0] === FRAME_RUN) {
      const error = decodeRun(item, limits, serializer, frames)
      if (error !== undefined) return { ok: false, error }
      continue
    }
    const frame = decodeOne(item, limits, serializer)
    if (frame instanceof Error) return { ok: false, error: frame }
    frames.push(frame)
  }
  // A batch of runs is bounded by the events it carries, not by its items.
  if (frames.length > limits.maxBatchFrames) {
    return malformed(`a batch of ${frames.length} events exceeds maxBatchFrames (${limits.maxBatchFrames})`)
  }
  return { ok: true, frames }
}

/** Appends the event frames of a run to `frames`; returns the error instead when it is not valid. */
function decodeRun(
  raw: unknown[],
  limits: FrameLimits,
  serializer: Serializer | undefined,
  frames: Frame[],
): EventwireError | undefined {
  const [, rawType, rawOrigin, hops] = raw
  if (raw.length < 5) return malformedError('a run frame is [9, type, origin, hops, detail, …]')
  const headError = checkEventHead('run', rawType, rawOrigin, hops, limits)
  if (headError !== undefined) return headError
  const type = rawType as string
  const origin = rawOrigin as string
  if (frames.length + raw.length - 4 > limits.maxBatchFrames) {
    return malformedError(
      `a run of ${raw.length - 4} events exceeds maxBatchFrames (${limits.maxBatchFrames})`,
    )
  }
  for (let i = 4; i < raw.length; i++) {
    let detail: unknown = raw[i]
    if (serializer !== undefined) {
      if (typeof detail !== 'string') return malformedError('run details must be serialized strings')
      try {
        detail = serializer.parse(detail)
      } catch (cause) {
        return cannotParse(type, cause)
      }
    }
    frames.push({ kind: 'event', type, origin, detail, hops: hops as number })
  }
  return undefined
}

/** What an event frame and a run frame share: type, origin and hops. */
function checkEventHead(
  what: 'event' | 'run',
  type: unknown,
  origin: unknown,
  hops: unknown,
  limits: FrameLimits,
): EventwireError | undefined {
  if (!isValidType(type, limits)) return malformedError(`${what} type is not a valid type string`)
  if (!isNodeId(origin)) return malformedError(`${what} origin is not a valid node id`)
  if (!Number.isSafeInteger(hops) || (hops as number) < 0 || (hops as number) > MAX_HOPS) {
    return malformedError(`${what} hops must be an integer from 0 to ${MAX_HOPS}`)
  }
  return undefined
}

function decodeOne(
  raw: unknown[],
  limits: FrameLimits,
  serializer: Serializer | undefined,
): Frame | EventwireError {
  switch (raw[0]) {
    case FRAME_EVENT: {
      if (raw.length < 4 || raw.length > 7) return malformedError('an event frame has 4 to 7 elements')
      const type = raw[1] as string
      const origin = raw[2] as string
      const hops = raw.length >= 5 ? raw[4] : 0
      const seq = raw.length === 7 && raw[5] === null ? undefined : raw[5]
      const id = raw[6]
      const headError = checkEventHead('event', type, origin, hops, limits)
      if (headError !== undefined) return headError
      if (raw.length >= 6 && seq !== undefined && (!Number.isSafeInteger(seq) || (seq as number) < 0)) {
        return malformedError('event seq must be a non-negative integer')
      }
      if (raw.length === 7 && !isNodeId(id)) return malformedError('event id is not a valid id')
      let detail: unknown = raw[3]
      if (serializer !== undefined) {
        if (typeof detail !== 'string') return malformedError('event detail must be a serialized string')
        try {
          detail = serializer.parse(detail)
        } catch (cause) {
          return cannotParse(type, cause)
        }
      }
      const frame: Frame = { kind: 'event', type, origin, detail, hops: hops as number }
      if (seq !== undefined) frame.seq = seq as number
      if (raw.length === 7) frame.id = id as string
      return frame
    }
    case FRAME_SUB:
    case FRAME_UNSUB: {
      if (raw.length !== 2 || !isValidType(raw[1], limits)) {
        return malformedError('a sub/unsub frame is [kind, type] with a valid type')
      }
      return { kind: raw[0] === FRAME_SUB ? 'sub' : 'unsub', type: raw[1] }
    }
    case FRAME_PING:
    case FRAME_PONG: {
      const id = raw[1]
      if (raw.length !== 2 || !Number.isSafeInteger(id) || (id as number) < 0) {
        return malformedError('a ping/pong frame is [kind, id] with a non-negative integer id')
      }
      return { kind: raw[0] === FRAME_PING ? 'ping' : 'pong', id: id as number }
    }
    case FRAME_HELLO: {
      const version = raw[1]
      const role = raw[3]
      const features = raw[4]
      if (
        raw.length < 3 ||
        raw.length > 5 ||
        !Number.isSafeInteger(version) ||
        !isNodeId(raw[2]) ||
        (raw.length >= 4 && !ROLES.has(role)) ||
        (raw.length === 5 && !isFeatureList(features))
      ) {
        return malformedError('a hello frame is [0, version, nodeId, role?, features?]')
      }
      const hello: Frame = {
        kind: 'hello',
        version: version as number,
        nodeId: raw[2],
        role: role as NodeRole | undefined,
      }
      if (raw.length === 5) hello.features = [...(features as string[])]
      return hello
    }
    case FRAME_ERROR: {
      const [, code, message, eventType] = raw
      if (
        raw.length !== 4 ||
        typeof message !== 'string' ||
        message.length > MAX_ERROR_MESSAGE_LENGTH ||
        !(eventType === null || isValidType(eventType, limits))
      ) {
        return malformedError('an error frame is [5, code, message, type|null]')
      }
      // A code this version does not know still arrives, as a connection error that names it.
      const known = isEventwireErrorCode(code)
      return {
        kind: 'error',
        code: known ? code : 'ERR_CONNECTION',
        message: known ? message : `peer error ${String(code).slice(0, 64)}: ${message}`,
        eventType: eventType ?? undefined,
      }
    }
    case FRAME_POSITION: {
      const [, type, epoch, offset] = raw
      if (raw.length === 2 && isValidType(type, limits)) {
        return { kind: 'position', type, epoch: undefined, offset: 0 }
      }
      // An offset names an event: 1 or more.
      if (raw.length !== 4 || !isValidType(type, limits) || !isEpoch(epoch) || !isOffset(offset, 1)) {
        return malformedError(
          'a position frame is [10, type] or [10, type, epoch, offset] with an offset from 1',
        )
      }
      return { kind: 'position', type, epoch, offset }
    }
    case FRAME_RESUME: {
      const [, type, epoch, offset] = raw
      if (raw.length !== 4 || !isValidType(type, limits) || !isEpoch(epoch) || !isOffset(offset, 0)) {
        return malformedError('a resume frame is [11, type, epoch, offset] with an offset from 0')
      }
      return { kind: 'resume', type, epoch, offset }
    }
    case FRAME_RESUMED: {
      const [, type, outcome, count] = raw
      if (
        raw.length !== 4 ||
        !isValidType(type, limits) ||
        !RESUME_OUTCOMES.has(outcome) ||
        !isOffset(count, 0)
      ) {
        return malformedError('a resumed frame is [12, type, outcome, count]')
      }
      return { kind: 'resumed', type, outcome: outcome as ResumeOutcome, count }
    }
    case FRAME_BYE: {
      const [, code, reason] = raw
      if (
        raw.length !== 3 ||
        !Number.isSafeInteger(code) ||
        (code as number) < 1000 ||
        (code as number) > 4999 ||
        typeof reason !== 'string' ||
        reason.length > MAX_BYE_REASON_LENGTH
      ) {
        return malformedError('a bye frame is [8, code, reason] with a code from 1000 to 4999')
      }
      return { kind: 'bye', code: code as number, reason }
    }
    default:
      return malformedError('unknown frame kind')
  }
}

export function isValidType(type: unknown, limits: FrameLimits = DEFAULT_FRAME_LIMITS): type is string {
  return typeof type === 'string' && type.length > 0 && type.length <= limits.maxTypeLength
}

/**
 * An event type a network target may put on the wire (`eventType` of the targets that have one): any
 * string of 1 to `maxTypeLength` characters, else `ERR_INVALID_OPTION` at the call.
 */
export function wireEventType(type: unknown, limits: FrameLimits): string {
  const name = String(type)
  if (!isValidType(name, limits)) {
    throw new EventwireError(
      'ERR_INVALID_OPTION',
      `event type must be a string of 1 to ${limits.maxTypeLength} characters`,
    )
  }
  return name
}

function isFeatureList(value: unknown): value is string[] {
  return (
    Array.isArray(value) &&
    value.length <= MAX_FEATURES &&
    value.every((name) => typeof name === 'string' && name.length > 0 && name.length <= MAX_FEATURE_LENGTH)
  )
}

function isEpoch(value: unknown): value is string {
  return typeof value === 'string' && value.length > 0 && value.length <= MAX_EPOCH_LENGTH
}

function isOffset(value: unknown, least: number): value is number {
  return Number.isSafeInteger(value) && (value as number) >= least
}

function isNodeId(value: unknown): value is string {
  return typeof value === 'string' && value.length > 0 && value.length <= MAX_NODE_ID_LENGTH
}

function cannotParse(type: string, cause: unknown): EventwireError {
  return new EventwireError('ERR_SERIALIZE', `the detail of "${type}" cannot be parsed`, {
    cause,
    eventType: type,
  })
}

function malformedError(message: string): EventwireError {
  return new EventwireError('ERR_FRAME_MALFORMED', message)
}

function malformed(message: string): DecodeResult {
  return { ok: false, error: malformedError(message) }
}
