import { invalidOption } from './errors.js'
import { DEFAULT_FRAME_LIMITS, type FrameLimits } from './frame.js'
import type { OverflowPolicy } from './link-writer.js'
import { isSerializer, jsonSerializer } from './serializer.js'
import type { Serializer } from './types.js'

/** Validates option values at construction time, naming the option in the error. */
export function readPositiveInteger(name: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value <= 0) {
    invalidOption(name, 'a positive integer', value)
  }
  return value
}

export function readNonNegativeInteger(name: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    invalidOption(name, 'a non-negative integer', value)
  }
  return value
}

export function readFunction<T extends (...args: never[]) => unknown>(
  name: string,
  value: unknown,
): T | undefined {
  if (value === undefined) return undefined
  if (typeof value !== 'function') invalidOption(name, 'a function', value)
  return value as T
}

export function readSerializer(value: unknown): Serializer {
  if (value === undefined) return jsonSerializer
  if (!isSerializer(value)) invalidOption('serializer', 'an object with stringify() and parse()', value)
  return value
}

export function readOverflow(value: unknown, fallback: OverflowPolicy): OverflowPolicy {
  if (value === undefined) return fallback
  if (value !== 'drop-newest' && value !== 'drop-oldest' && value !== 'close') {
    invalidOption('overflow', "'drop-newest', 'drop-oldest' or 'close'", value)
  }
  return value
}

export function readLimits(value: Partial<FrameLimits> | undefined): FrameLimits {
  if (value === undefined) return DEFAULT_FRAME_LIMITS
  if (typeof value !== 'object' || value === null) invalidOption('limits', 'an object', value)
  return {
    maxFrameBytes: readPositiveInteger(
      'limits.maxFrameBytes',
      value.maxFrameBytes,
      DEFAULT_FRAME_LIMITS.maxFrameBytes,
    ),
    maxTypeLength: readPositiveInteger(
      'limits.maxTypeLength',
      value.maxTypeLength,
      DEFAULT_FRAME_LIMITS.maxTypeLength,
    ),
    maxBatchFrames: readPositiveInteger(
      'limits.maxBatchFrames',
      value.maxBatchFrames,
      DEFAULT_FRAME_LIMITS.maxBatchFrames,
    ),
  }
}

/**
 * `limits`, with a target's older names for the same limits folded in (`maxPayload` on the WebSocket hub
 * and client, `maxFrameBytes` on iroh, `maxTypeLength` on the WebSocket hub; deprecated). Giving an old
 * name and `limits` a different value for the same limit is refused: which one was meant is unclear.
 */
export function readLimitsWithOldNames(
  limits: Partial<FrameLimits> | undefined,
  oldNames: Partial<Record<keyof FrameLimits, { name: string; value: unknown }>>,
): FrameLimits {
  if (limits !== undefined && (typeof limits !== 'object' || limits === null)) {
    invalidOption('limits', 'an object', limits)
  }
  const merged: Partial<FrameLimits> = { ...limits }
  for (const [key, old] of Object.entries(oldNames) as Array<
    [keyof FrameLimits, { name: string; value: unknown }]
  >) {
    if (old.value === undefined) continue
    const current = merged[key]
    if (current !== undefined && current !== old.value) {
      invalidOption(old.name, `the same as limits.${key} (${current}), or left out`, old.value)
    }
    merged[key] = readPositiveInteger(old.name, old.value, 1)
  }
  return readLimits(merged)
}

/** Options objects are optional, but when given they must be objects. */
export function readOptionsObject<T extends object>(value: T | undefined, factory: string): Partial<T> {
  if (value === undefined) return {}
  if (typeof value !== 'object' || value === null) invalidOption(`${factory} options`, 'an object', value)
  return value
}
