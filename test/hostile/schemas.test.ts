import { afterEach, describe, expect, it } from 'vitest'
import { z } from 'zod'
import { defineEvents, type EventwireError } from '../../src/index.js'
import { waitFor } from '../../src/testing/index.js'
import type { StandardSchemaV1 } from '../../src/transport/index.js'
import { client, hubWith, rawClient } from '../support/websocket.js'

// A WebSocket hub with schemas facing a client that sends invalid events between valid ones, over real
// sockets on 127.0.0.1. What must hold: every valid event arrives once, in the order it was sent, on
// every other connection; nothing of another connection is lost or reordered; what the hub holds behind
// a slow schema is bounded as the authorize backlog is.

const cleanup: Array<() => Promise<unknown> | unknown> = []
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step()
})

const HELLO = '[0,1,"raw","spoke"]'
const detail = z.object({ n: z.number().int(), text: z.string().max(20) })

/** A schema that answers after a random 0 to 2 ms, as a check against a database would. */
function slow(schema: StandardSchemaV1): StandardSchemaV1 {
  return {
    '~standard': {
      version: 1,
      vendor: 'test',
      validate: async (value) => {
        await new Promise((resolve) => setTimeout(resolve, Math.floor(Math.random() * 3)))
        return schema['~standard'].validate(value)
      },
    },
  }
}

const events = defineEvents({ chat: detail, slow: slow(detail), tick: z.object({ n: z.number() }) })

describe('a hub with schemas against a client sending invalid events', () => {
  it('delivers the valid ones once, in order, on every connection; refuses the rest naming the field; keeps other connections whole', async () => {
    const { running, errors } = await hubWith(cleanup, { events })
    // A receiver of everything, and a second one of the hostile client's types only.
    const receiver = client(running.url)
    const second = client(running.url)
    cleanup.push(
      () => receiver.close(),
      () => second.close(),
    )
    const fromHostile: string[] = []
    const fromSecond: string[] = []
    const ticks: number[] = []
    for (const type of ['chat', 'slow'] as const) {
      receiver.addEventListener(type, (event) =>
        fromHostile.push(`${type}:${(event.detail as { n: number }).n}`),
      )
      second.addEventListener(type, (event) =>
        fromSecond.push(`${type}:${(event.detail as { n: number }).n}`),
      )
    }
    receiver.addEventListener('tick', (event) => ticks.push((event.detail as { n: number }).n))
    await Promise.all([receiver.ready, second.ready])
    await Promise.all([receiver.flush(), second.flush()])

    const hostile = await rawClient(cleanup, running.url)
    const honest = await rawClient(cleanup, running.url)
    hostile.socket.send(HELLO)
    honest.socket.send('[0,1,"honest","spoke"]')

    // Rounds of batches: valid and invalid events of a synchronous and an asynchronous schema mixed,
    // some invalid by type, some by a field, some by a field too long; an honest client sends at once.
    const rounds = 40
    const expected: string[] = []
    let invalidSent = 0
    for (let round = 0; round < rounds; round++) {
      const frames: unknown[] = []
      for (let k = 0; k < 5; k++) {
        const n = round * 5 + k
        const type = k % 2 === 0 ? 'chat' : 'slow'
        frames.push([1, type, 'raw', { n, text: 'ok' }])
        expected.push(`${type}:${n}`)
        frames.push([
          1,
          type,
          'raw',
          [{ n: 'x' }, { n, text: 'x'.repeat(21) }, { n: n + 0.5, text: '' }][k % 3],
        ])
        invalidSent++
      }
      frames.push([1, 'undeclared', 'raw', { n: round }])
      invalidSent++
      hostile.socket.send(JSON.stringify([4, ...frames]))
      honest.socket.send(JSON.stringify([1, 'tick', 'honest', { n: round }]))
    }
    hostile.socket.send('[6,99]')

    await waitFor(() => fromHostile.length >= expected.length && fromSecond.length >= expected.length, {
      timeoutMs: 10_000,
      message: 'every valid event at both receivers',
    })
    await waitFor(() => ticks.length >= rounds, { timeoutMs: 10_000, message: 'every tick' })
    // The pong to the hostile client's last ping: every frame before it was processed.
    await waitFor(() => hostile.frames.some((frame) => frame[0] === 7 && frame[1] === 99), {
      timeoutMs: 5_000,
    })
    await Promise.all([receiver.flush(), second.flush()])
    expect(fromHostile).toEqual(expected)
    expect(fromSecond).toEqual(expected)
    expect(ticks).toEqual(Array.from({ length: rounds }, (_, n) => n))

    // Every invalid event counted; the reports bounded (10 a second per link), each naming the field.
    expect(running.hub.stats().dropped).toBe(invalidSent)
    const invalid = errors.filter((error: EventwireError) => error.code === 'ERR_INVALID')
    expect(invalid.length).toBeGreaterThan(0)
    expect(invalid.length).toBeLessThanOrEqual(20)
    expect(errors.filter((error) => error.code !== 'ERR_INVALID')).toEqual([])
    const errorFrames = hostile.errorFrames()
    expect(errorFrames.length).toBeGreaterThan(0)
    expect(errorFrames.length).toBeLessThanOrEqual(20)
    for (const frame of errorFrames) {
      expect(frame[1]).toBe('ERR_INVALID')
      expect(String(frame[2]).length).toBeLessThanOrEqual(1024)
    }
    expect(String(errorFrames[0]![2])).toMatch(/\bn: /)
    expect(honest.errorFrames()).toEqual([])
    expect(hostile.closed()).toBeUndefined()
  })

  it('caps the issues an error frame lists, and their text', async () => {
    const wide = z.object(Object.fromEntries(Array.from({ length: 50 }, (_, i) => [`f${i}`, z.string()])))
    const { running } = await hubWith(cleanup, {
      events: defineEvents({ wide: wide.refine(() => true, { message: 'x'.repeat(5_000) }) }),
    })
    const hostile = await rawClient(cleanup, running.url)
    hostile.socket.send(HELLO)
    hostile.socket.send('[1,"wide","raw",{}]')
    await waitFor(() => hostile.errorFrames().length === 1, { timeoutMs: 5_000 })
    const message = String(hostile.errorFrames()[0]![2])
    expect(message).toMatch(/^invalid "wide" event: f0: .*; f4: .* \(and 45 more\)$/)
    expect(message.length).toBeLessThan(1024)
  })

  it('closes a client whose events wait behind a schema that never answers, past the backlog bound (1008)', async () => {
    const never: StandardSchemaV1 = {
      '~standard': { version: 1, vendor: 'test', validate: () => new Promise(() => {}) },
    }
    const { running, errors } = await hubWith(cleanup, {
      events: defineEvents({ stuck: never, tick: detail }),
    })
    const control = client(running.url)
    cleanup.push(() => control.close())
    const ticks: number[] = []
    control.addEventListener('tick', (event) => ticks.push((event.detail as { n: number }).n))
    await control.ready
    await control.flush()
    const hostile = await rawClient(cleanup, running.url)
    hostile.socket.send(HELLO)
    const batch = JSON.stringify([4, ...Array.from({ length: 1_000 }, (_, n) => [1, 'stuck', 'raw', { n }])])
    for (let i = 0; i < 12; i++) hostile.socket.send(batch)
    await waitFor(() => hostile.closed() !== undefined, {
      timeoutMs: 5_000,
      message: 'the hostile client closed',
    })
    expect(hostile.closed()!.code).toBe(1008)
    expect(errors.map((error) => error.code)).toContain('ERR_OVERFLOW')
    // The other connection keeps flowing.
    for (let n = 0; n < 100; n++)
      running.hub.dispatchEvent(new CustomEvent('tick', { detail: { n, text: '' } }))
    await waitFor(() => ticks.length >= 100, { timeoutMs: 5_000 })
    expect(ticks).toEqual(Array.from({ length: 100 }, (_, n) => n))
  })
})
