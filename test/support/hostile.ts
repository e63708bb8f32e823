import { expect } from 'vitest'
import { waitFor } from '../../src/testing/index.js'

/** The next turn of the event loop, after pending I/O. */
export const nextTask = () => new Promise((resolve) => setImmediate(resolve))

/** The JS heap in use after a full collection (vitest.config.ts runs tests with --expose-gc). */
export function heapUsed(): number {
  const gc = (globalThis as { gc?: () => void }).gc
  if (gc === undefined) throw new Error('run with --expose-gc (vitest.config.ts passes it)')
  gc()
  return process.memoryUsage().heapUsed
}

/**
 * A control spoke's check for the hostile-peer suites: `stream(count)` dispatches `count` numbered events
 * of `type` from the hub, yielding every 100, and waits until `got` has them all, in order.
 */
export function numberedStream(hub: { dispatchEvent(event: Event): boolean }, type: string, got: number[]) {
  return async (count: number, start = got.length) => {
    for (let n = start; n < start + count; n++) {
      hub.dispatchEvent(new CustomEvent(type, { detail: { n } }))
      if (n % 100 === 99) await nextTask()
    }
    await waitFor(() => got.length >= start + count, { timeoutMs: 10_000 })
    expect(got).toEqual(Array.from({ length: start + count }, (_, n) => n))
  }
}
