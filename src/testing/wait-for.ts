import { EventwireError } from '../core/errors.js'

export interface WaitForOptions {
  /** Give up after this long, in ms. @default 5_000 */
  timeoutMs?: number
  /** How often the condition is checked, in ms. @default 2 */
  intervalMs?: number
  /** Describes the condition in the timeout error. */
  message?: string
}

/**
 * Resolves as soon as `check()` returns a truthy value (or stops throwing), polling it; rejects with
 * `ERR_TIMEOUT` after `timeoutMs`, carrying the last thrown error as `cause`. Tests wait for conditions,
 * never for a clock.
 */
export async function waitFor<T>(check: () => T | Promise<T>, options: WaitForOptions = {}): Promise<T> {
  const timeoutMs = options.timeoutMs ?? 5_000
  const intervalMs = options.intervalMs ?? 2
  const deadline = Date.now() + timeoutMs
  let lastError: unknown
  for (;;) {
    try {
      const value = await check()
      if (value) return value
      lastError = undefined
    } catch (error) {
      lastError = error
    }
    if (Date.now() >= deadline) {
      const what = options.message ?? 'condition'
      throw new EventwireError('ERR_TIMEOUT', `${what} not met within ${timeoutMs} ms`, { cause: lastError })
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs))
  }
}
