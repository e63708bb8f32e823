import { describe, expect, it } from 'vitest'
import { DELIVERY_SLICE, DeliveryPacer } from '../../../src/core/delivery-pacer.js'
import { waitFor } from '../../../src/testing/index.js'

/** A message of `count` numbers from `start`. */
const message = (start: number, count: number) => Array.from({ length: count }, (_, i) => start + i)

/**
 * An owner as the transports use it: each received message is admitted, the admitted part delivered at
 * once, the rest pushed. `pending` is what a promise-driven consumer has not read yet, as a Repeater's
 * pending pushes; the consumer reads one value per microtask hop, like a `for await` loop.
 */
function owner() {
  const delivered: number[] = []
  let unread = 0
  let mostUnread = 0
  let wake: (() => void) | undefined
  const deliverOne = (value: number) => {
    delivered.push(value)
    mostUnread = Math.max(mostUnread, ++unread)
    wake?.()
  }
  const pacer = new DeliveryPacer<number[]>((values, _b, from, to) => {
    for (let i = from; i < to; i++) deliverOne(values[i]!)
  })
  const receive = (values: number[]) => {
    const now = pacer.admit(values.length)
    for (let i = 0; i < now; i++) deliverOne(values[i]!)
    pacer.push(values, undefined, now, values.length)
  }
  let isReading = true
  const reading = (async () => {
    while (isReading) {
      if (unread === 0) await new Promise<void>((resolve) => (wake = resolve))
      else {
        await Promise.resolve()
        unread--
      }
    }
  })()
  const stop = async () => {
    isReading = false
    wake?.()
    await reading
  }
  return { pacer, receive, delivered, mostUnread: () => mostUnread, stop }
}

describe('DeliveryPacer', () => {
  it('delivers a small message at once, inline', () => {
    const { receive, delivered, pacer } = owner()
    receive(message(0, 100))
    expect(delivered).toEqual(message(0, 100))
    expect(pacer.pending).toBe(0)
  })

  it('delivers a burst in order, never more than a slice before a promise-driven reader runs', async () => {
    const { receive, delivered, pacer, mostUnread, stop } = owner()
    // One large message, then many small ones read in the same task, as one socket chunk brings them.
    receive(message(0, 5_000))
    for (let start = 5_000; start < 10_000; start += 100) receive(message(start, 100))
    expect(delivered.length).toBe(DELIVERY_SLICE)
    expect(pacer.pending).toBe(10_000 - DELIVERY_SLICE)
    // Received meanwhile, in a later task: queued behind what waits.
    await new Promise((resolve) => setImmediate(resolve))
    receive(message(10_000, 10))
    await waitFor(() => delivered.length === 10_010, { timeoutMs: 5_000, message: 'every value delivered' })
    expect(delivered).toEqual(message(0, 10_010))
    expect(mostUnread()).toBeLessThanOrEqual(DELIVERY_SLICE)
    await stop()
  })

  it('forgets what waits on clear(), also from inside a delivery', async () => {
    const delivered: number[] = []
    const pacer: DeliveryPacer<number[]> = new DeliveryPacer((values, _b, from, to) => {
      for (let i = from; i < to; i++) {
        delivered.push(values[i]!)
        if (values[i] === DELIVERY_SLICE + 10) pacer.clear()
      }
    })
    const values = message(0, 3 * DELIVERY_SLICE)
    const now = pacer.admit(values.length)
    pacer.push(values, undefined, now, values.length)
    expect(now).toBe(DELIVERY_SLICE)
    await waitFor(() => pacer.pending === 0, { timeoutMs: 5_000 })
    // Two more macrotasks: nothing else arrives.
    for (let i = 0; i < 2; i++) await new Promise((resolve) => setImmediate(resolve))
    // The slice under way ends (its loop is the owner's); no later slice is delivered.
    expect(delivered).toEqual(message(DELIVERY_SLICE, DELIVERY_SLICE))
  })
})
