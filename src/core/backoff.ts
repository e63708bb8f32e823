import { DEFAULTS } from './defaults.js'
import { invalidOption } from './errors.js'
import { readPositiveInteger } from './options.js'

export interface ReconnectOptions {
  /** Delay before the first retry, in ms. @default 100 */
  initialDelayMs?: number
  /** Ceiling of the delay, in ms. @default 10_000 */
  maxDelayMs?: number
  /** Growth factor per failed attempt. @default 2 */
  factor?: number
}

export interface Backoff {
  readonly initialDelayMs: number
  readonly maxDelayMs: number
  readonly factor: number
}

export function readBackoff(value: ReconnectOptions | undefined): Backoff {
  const options = value ?? {}
  const initialDelayMs = readPositiveInteger(
    'reconnect.initialDelayMs',
    options.initialDelayMs,
    DEFAULTS.reconnectInitialDelayMs,
  )
  const maxDelayMs = readPositiveInteger(
    'reconnect.maxDelayMs',
    options.maxDelayMs,
    DEFAULTS.reconnectMaxDelayMs,
  )
  const factor = options.factor ?? 2
  if (typeof factor !== 'number' || !(factor >= 1) || !Number.isFinite(factor)) {
    invalidOption('reconnect.factor', 'a finite number >= 1', factor)
  }
  return { initialDelayMs, maxDelayMs: Math.max(maxDelayMs, initialDelayMs), factor }
}

/**
 * "Equal jitter" exponential backoff: half the capped exponential delay plus a random half, so a fleet of
 * spokes that lost the same hub does not return in one wave, yet no spoke retries instantly.
 */
export function backoffDelayMs(
  backoff: Backoff,
  attempt: number,
  random: () => number = Math.random,
): number {
  const exponential = Math.min(
    backoff.maxDelayMs,
    backoff.initialDelayMs * backoff.factor ** Math.max(0, attempt),
  )
  const half = exponential / 2
  return Math.round(half + random() * half)
}
