import { EventwireError, invalidOption } from './errors.js'
import { DEFAULT_FRAME_LIMITS } from './frame.js'

/**
 * The checks every history store makes of what it is given, in one place, so the in-memory store and the
 * Redis one refuse the same things the same way. A position can come from a peer (a spoke resuming), so
 * each check is a bounded test of a primitive, and a failure is an `EventwireError`, never anything else.
 * Not exported from `eventwire/transport`: stores import it by path.
 */

/** Longest epoch a store makes or accepts. Stores make 10 to 20 characters; the bound only stops abuse. */
export const MAX_EPOCH_LENGTH = 64
/** Longest origin (a node id), as in frames. */
const MAX_ORIGIN_LENGTH = 128
/** Longest event identity, as in frames. */
const MAX_ID_LENGTH = 128

export function checkType(type: unknown, maxTypeLength: number = DEFAULT_FRAME_LIMITS.maxTypeLength): string {
  if (typeof type !== 'string' || type.length === 0 || type.length > maxTypeLength) {
    throw new EventwireError(
      'ERR_INVALID_OPTION',
      `history: event type must be a string of 1 to ${maxTypeLength} characters`,
    )
  }
  return type
}

export function checkEpoch(epoch: unknown): string {
  if (typeof epoch !== 'string' || epoch.length === 0 || epoch.length > MAX_EPOCH_LENGTH) {
    throw new EventwireError(
      'ERR_INVALID_OPTION',
      `history: epoch must be a string of 1 to ${MAX_EPOCH_LENGTH} characters`,
    )
  }
  return epoch
}

/** An offset: 0 (nothing received yet) or the offset of the last entry received. */
export function checkOffset(offset: unknown): number {
  if (typeof offset !== 'number' || !Number.isSafeInteger(offset) || offset < 0) {
    throw new EventwireError('ERR_INVALID_OPTION', 'history: offset must be a non-negative safe integer')
  }
  return offset
}

export function checkLimit(limit: unknown, fallback: number): number {
  if (limit === undefined) return fallback
  if (typeof limit !== 'number' || !Number.isSafeInteger(limit) || limit < 1) {
    throw new EventwireError('ERR_INVALID_OPTION', 'history: limit must be a positive integer')
  }
  return limit
}

/**
 * Checks what `append` takes without copying it: `append` is on the hot path of a hub, so it allocates
 * nothing here. `text` and `detail` are kept as they are.
 */
export function checkRecord(record: unknown): void {
  if (typeof record !== 'object' || record === null) {
    throw new EventwireError('ERR_INVALID_OPTION', 'history: an entry must be an object')
  }
  const { origin, text, hops, id, time } = record as Record<string, unknown>
  if (typeof origin !== 'string' || origin.length === 0 || origin.length > MAX_ORIGIN_LENGTH) {
    throw new EventwireError(
      'ERR_INVALID_OPTION',
      `history: origin must be a string of 1 to ${MAX_ORIGIN_LENGTH} characters`,
    )
  }
  if (text !== undefined && typeof text !== 'string') {
    throw new EventwireError('ERR_INVALID_OPTION', 'history: text must be a string when given')
  }
  if (hops !== undefined && (typeof hops !== 'number' || !Number.isInteger(hops) || hops < 0 || hops > 255)) {
    throw new EventwireError('ERR_INVALID_OPTION', 'history: hops must be an integer from 0 to 255')
  }
  if (id !== undefined && (typeof id !== 'string' || id.length === 0 || id.length > MAX_ID_LENGTH)) {
    throw new EventwireError(
      'ERR_INVALID_OPTION',
      `history: id must be a string of 1 to ${MAX_ID_LENGTH} characters when given`,
    )
  }
  if (time !== undefined && (typeof time !== 'number' || !Number.isFinite(time))) {
    throw new EventwireError('ERR_INVALID_OPTION', 'history: time must be a finite number when given')
  }
}

/** A positive integer option (or `Infinity` where `unbounded` allows it), else ERR_INVALID_OPTION. */
export function positiveOption(name: string, value: unknown, fallback: number, unbounded = false): number {
  if (value === undefined) return fallback
  if (unbounded && value === Number.POSITIVE_INFINITY) return value
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1) {
    invalidOption(name, unbounded ? 'a positive integer or Infinity' : 'a positive integer', value)
  }
  return value
}

export function clockOption(value: unknown): () => number {
  if (value === undefined) return Date.now
  if (typeof value !== 'function') invalidOption('now', 'a function returning milliseconds', value)
  return value as () => number
}
