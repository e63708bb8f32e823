import type { EventwireErrorCode } from './errors.js'
import {
  DEFAULT_FRAME_LIMITS,
  type DecodeResult,
  decodeFrames,
  encodeBatch,
  encodeBye,
  encodeError,
  encodeEvent,
  encodeHello,
  encodePing,
  encodePong,
  encodePosition,
  encodeResume,
  encodeResumed,
  encodeSub,
  encodeUnsub,
  eventHead,
  type Feature,
  FRAME_BATCH,
  FRAME_EVENT,
  FRAME_RUN,
  type FrameLimits,
  frameLayout,
  type NodeRole,
  type ResumeOutcome,
  validateFrames,
} from './frame.js'
import { jsonSerializer } from './serializer.js'
import type { Serializer } from './types.js'

/** How a batch may be written to one link. */
export interface FrameBatchOptions {
  /** The other side listed `run` in its hello: consecutive events of one type and origin may share one. */
  runs?: boolean
  /** Per frame, what `FrameCodec.runKey` gave when it was written (text frames: runs are made from it). */
  runKeys?: ReadonlyArray<string | undefined>
}

/**
 * How frames travel on one kind of link: as JSON text (sockets, streams) or as structured-clone arrays
 * (workers, MessagePorts). The Hub, the Spoke and the link writer speak only through a codec, so the
 * same routing logic serves both. `W` is what one message on the link is.
 */
export interface FrameCodec<W> {
  readonly limits: FrameLimits
  /** Features this codec can write and read, listed in the hello. @default none */
  readonly features?: readonly Feature[]
  /**
   * Encodes an event frame; throws `ERR_SERIALIZE` when the detail cannot be encoded. `id` is the
   * identity a bridge gave the event (docs/protocol.md); a codec must carry it for bridged topologies to
   * deliver once.
   */
  event(type: string, origin: string, detail: unknown, hops?: number, id?: string): W
  hello(nodeId: string, role: NodeRole, features?: readonly Feature[]): W
  sub(type: string): W
  unsub(type: string): W
  ping(id: number): W
  pong(id: number): W
  error(code: EventwireErrorCode, message: string, eventType?: string): W
  /** The last frame of a link closed on purpose: a close code (1000 to 4999) and a short reason. */
  bye(code: number, reason: string): W
  /**
   * History positions (feature `resume`, docs/recovery.md): a codec that lists `resume` in `features`
   * has these three. `position` without an epoch: the next events of `type` carry no position.
   */
  position?(type: string, epoch?: string, offset?: number): W
  resume?(type: string, epoch: string, offset: number): W
  resumed?(type: string, outcome: ResumeOutcome, count: number): W
  /**
   * For an event frame written with `runKey` (its head): the detail as the frame carries it, so a hub
   * may keep it for replay without encoding it again; undefined when the frame does not show it.
   */
  detailText?(frame: W, runKey: string | undefined): string | undefined
  /** An event frame from a detail as `detailText` gave it (hops 0, no identity). */
  eventFromText?(type: string, origin: string, detailText: string): W
  /**
   * For an event frame about to be written: a key that consecutive frames of one run share (the same
   * string object), or undefined when the frame cannot be part of a run. Codecs whose frames show their
   * structure (clone arrays) need none.
   */
  runKey?(type: string, origin: string, hops?: number, id?: string): string | undefined
  /** Joins encoded frames into one batch frame without encoding them again. */
  batch(frames: readonly W[], options?: FrameBatchOptions): W
  /** Decodes one received message; never throws. */
  decode(data: unknown): DecodeResult
  /** Approximate size of a message in bytes, for the overflow bound. */
  size(data: W): number
}

/** JSON text frames (docs/protocol.md), with details encoded by `serializer`. */
export function createTextCodec(
  serializer: Serializer = jsonSerializer,
  limits: FrameLimits = DEFAULT_FRAME_LIMITS,
): FrameCodec<string> {
  return {
    limits,
    features: TEXT_FEATURES,
    event: (type, origin, detail, hops, id) =>
      encodeEvent(type, origin, detail, serializer, hops, undefined, id),
    // encodeEvent writes such a frame as this head, the detail and `]`.
    runKey: (type, origin, hops = 0, id) =>
      hops === 0 && id === undefined ? eventHead(type, origin) : undefined,
    hello: encodeHello,
    sub: encodeSub,
    unsub: encodeUnsub,
    ping: encodePing,
    pong: encodePong,
    error: encodeError,
    bye: encodeBye,
    position: encodePosition,
    resume: encodeResume,
    resumed: encodeResumed,
    // `head` + detail + `]`, as encodeEvent writes a frame of hops 0 without an identity.
    detailText: (frame, runKey) => (runKey === undefined ? undefined : frame.slice(runKey.length, -1)),
    eventFromText: (type, origin, detailText) => `${eventHead(type, origin)}${detailText}]`,
    batch: (frames, options) =>
      options?.runs === true && options.runKeys !== undefined
        ? textBatchRuns(frames, options.runKeys)
        : encodeBatch(frames),
    // decodeFrames refuses anything that is not a string.
    decode: (data) => decodeFrames(data as string, limits, serializer),
    size: (data) => data.length,
  }
}

/**
 * Text links carry runs too: a run spares the receiver an array per event (and the sender repeating the
 * type and origin), which is most of what parsing a batch of small events costs.
 */
const TEXT_FEATURES: readonly Feature[] = Object.freeze(['run', 'resume'])

/**
 * A batch in which each stretch of two or more event frames with the same run key (the head
 * `[1,"type","origin",` that encodeEvent wrote them with, hops 0, no identity) is one run frame
 * `[9,"type","origin",0,detail,…]`, built from the frames' own text.
 */
function textBatchRuns(frames: readonly string[], keys: ReadonlyArray<string | undefined>): string {
  const out: string[] = []
  let i = 0
  while (i < frames.length) {
    const key = keys[i]
    let end = i + 1
    if (key !== undefined) while (end < frames.length && keys[end] === key) end++
    if (end - i === 1) {
      out.push(frames[i]!)
    } else {
      const details: string[] = []
      for (let j = i; j < end; j++) details.push(frames[j]!.slice(key!.length, -1))
      // `[1,"type","origin",` becomes `[9,"type","origin",0,`.
      out.push(`[${FRAME_RUN}${key!.slice(2)}0,${details.join(',')}]`)
    }
    i = end
  }
  return out.length === 1 ? out[0]! : encodeBatch(out)
}

/** A frame as the array a structured-clone link carries. */
export type CloneFrame = readonly unknown[]

/**
 * Structured-clone frames: the same arrays as the text protocol, handed to `postMessage` as they are, so
 * details travel without JSON (Dates, Maps, typed arrays survive). Cloning failures surface when the link
 * sends, not here. Sizes are estimates: a platform message queue has no byte count to bound anyway.
 */
export function createCloneCodec(limits: FrameLimits = DEFAULT_FRAME_LIMITS): FrameCodec<CloneFrame> {
  return {
    limits,
    features: CLONE_FEATURES,
    event: (type, origin, detail, hops = 0, id) =>
      frameLayout.event(type, origin, detail === undefined ? null : detail, hops, undefined, id),
    hello: frameLayout.hello,
    sub: frameLayout.sub,
    unsub: frameLayout.unsub,
    ping: frameLayout.ping,
    pong: frameLayout.pong,
    error: frameLayout.error,
    bye: frameLayout.bye,
    position: frameLayout.position,
    resume: frameLayout.resume,
    resumed: frameLayout.resumed,
    batch: (frames, options) => (options?.runs === true ? batchRuns(frames) : [FRAME_BATCH, ...frames]),
    decode: (data) => validateFrames(data, limits),
    size: estimateSize,
  }
}

/**
 * Deserializing a clone costs per array: one `[1, type, origin, detail]` per event was about three
 * quarters of a receiving worker's time. A run carries type, origin and hops once, then the details.
 * No `resume`: worker links never reconnect, and a link that refuses one clone would lose an event
 * whose offset the other side would still count (docs/recovery.md).
 */
const CLONE_FEATURES: readonly Feature[] = Object.freeze(['run'])

/** A batch in which each stretch of events with the same type, origin and hops is one run frame. */
function batchRuns(frames: readonly CloneFrame[]): CloneFrame {
  const out: CloneFrame[] = []
  let run: unknown[] | undefined
  let first: CloneFrame | undefined
  for (const frame of frames) {
    // An event with an identity (it crossed a bridge) keeps its own frame: a run has no place for it.
    if (frame[0] === FRAME_EVENT && frame.length <= 5) {
      const hops = frame[4] ?? 0
      if (first !== undefined && frame[1] === first[1] && frame[2] === first[2] && hops === (first[4] ?? 0)) {
        run ??= [FRAME_RUN, first[1], first[2], hops, first[3]]
        run.push(frame[3])
        continue
      }
      if (first !== undefined) out.push(run ?? first)
      first = frame
      run = undefined
      continue
    }
    if (first !== undefined) out.push(run ?? first)
    first = undefined
    run = undefined
    out.push(frame)
  }
  if (first !== undefined) out.push(run ?? first)
  return out.length === 1 ? out[0]! : [FRAME_BATCH, ...out]
}

const ESTIMATED_DETAIL_BYTES = 64

/** A cheap size for the writer's bound: our own frames, on the hot path. */
function estimateSize(frame: CloneFrame): number {
  if (frame[0] === FRAME_BATCH) {
    let total = 8
    for (let i = 1; i < frame.length; i++) total += estimateSize(frame[i] as CloneFrame)
    return total
  }
  const detail = frame[0] === FRAME_EVENT ? frame[3] : undefined
  return 32 + (typeof detail === 'string' ? detail.length * 2 : ESTIMATED_DETAIL_BYTES)
}

/** Values `messageBytes` looks at, at most; past them, each value left counts this many bytes. */
const ESTIMATE_BUDGET = 256
const BYTES_PER_UNSEEN_VALUE = 64

/**
 * About how many bytes a received message holds, for bounds on what a peer makes us keep (the authorize
 * backlog): text by its length; a structured clone by its strings, binary data and the values inside its
 * arrays, maps, sets and objects, looked at up to a fixed number of values so that estimating costs
 * little, with the rest counted at a flat rate. A long string or buffer counts whole as soon as it is
 * seen, so a hostile peer cannot make a large message count as small.
 */
export function messageBytes(message: unknown): number {
  if (typeof message === 'string') return message.length
  const pending: unknown[] = [message]
  let bytes = 0
  let seen = 0
  const visit = (value: unknown) => {
    if (seen + pending.length < ESTIMATE_BUDGET) pending.push(value)
    else bytes += BYTES_PER_UNSEEN_VALUE
  }
  while (pending.length > 0) {
    const value = pending.pop()
    seen++
    if (typeof value === 'string') bytes += 16 + value.length * 2
    else if (typeof value !== 'object' || value === null) bytes += 8
    else if (ArrayBuffer.isView(value) || value instanceof ArrayBuffer) bytes += 32 + value.byteLength
    else if (Array.isArray(value)) {
      bytes += 16
      for (const item of value) visit(item)
    } else if (value instanceof Map) {
      bytes += 32
      for (const [key, item] of value) {
        visit(key)
        visit(item)
      }
    } else if (value instanceof Set) {
      bytes += 32
      for (const item of value) visit(item)
    } else {
      bytes += 32
      for (const key in value) {
        visit(key)
        visit((value as Record<string, unknown>)[key])
      }
    }
  }
  return bytes
}

/**
 * The codec a Hub or Spoke uses: the one given, else JSON text from `serializer` and `limits`. Without a
 * codec, `W` is the default `string`, which is what the text codec produces.
 */
export function resolveCodec<W>(
  codec: FrameCodec<W> | undefined,
  serializer: Serializer,
  limits: FrameLimits,
): FrameCodec<W> {
  return codec ?? (createTextCodec(serializer, limits) as FrameCodec<unknown> as FrameCodec<W>)
}
