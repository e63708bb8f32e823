import { describe, expect, it } from 'vitest'
import { z } from 'zod'
import { createInProcessEventTarget } from '../../../src/event-target-in-process/index.js'
import {
  createPubSub,
  defineEvents,
  EventwireError,
  isEventwireErrorCode,
  request,
  respond,
} from '../../../src/index.js'
import { waitFor } from '../../../src/testing/index.js'
import {
  createDetailCheck,
  createMemoryConnector,
  Hub,
  OrderedChecks,
  Spoke,
  type StandardSchemaV1,
} from '../../../src/transport/index.js'

/** A hand-written Standard Schema: `{ n: number }`, answering now or a task later. */
function numberSchema(isAsync = false): StandardSchemaV1<{ n: number }> {
  const validate = (value: unknown): StandardSchemaV1.Result<{ n: number }> =>
    typeof value === 'object' && value !== null && typeof (value as { n?: unknown }).n === 'number'
      ? { value: value as { n: number } }
      : { issues: [{ message: 'expected a number', path: [{ key: 'n' }] }] }
  return {
    '~standard': {
      version: 1,
      vendor: 'test',
      validate: isAsync
        ? (value) => new Promise((resolve) => setTimeout(() => resolve(validate(value)), 0))
        : validate,
    },
  }
}

describe('defineEvents', () => {
  it('keeps the schemas of every type, no name special, and refuses what is no Standard Schema v1', () => {
    const schema = numberSchema()
    const events = defineEvents({ chat: schema, ['__proto__']: schema, constructor: schema })
    expect(Object.keys(events.schemas).sort()).toEqual(['__proto__', 'chat', 'constructor'])
    expect(events.otherTypes).toBe('refuse')
    expect(Object.isFrozen(events)).toBe(true)
    const check = createDetailCheck(events)
    expect(check('__proto__', { n: 1 })).toBeUndefined()
    expect(check('toString', { n: 1 })).toMatchObject({ code: 'ERR_INVALID' })
    expect(() => defineEvents({ chat: { parse: () => 1 } as never })).toThrow(
      expect.objectContaining({ code: 'ERR_INVALID_OPTION' }),
    )
    expect(() => defineEvents({ chat: schema }, { otherTypes: 'maybe' as never })).toThrow(
      expect.objectContaining({ code: 'ERR_INVALID_OPTION' }),
    )
  })

  it('is a published error code, ERR_INVALID', () => {
    expect(isEventwireErrorCode('ERR_INVALID')).toBe(true)
  })
})

describe('createDetailCheck', () => {
  it('answers undefined for a valid detail, and ERR_INVALID with paths and messages for an invalid one', () => {
    const check = createDetailCheck(
      defineEvents({ chat: z.object({ user: z.object({ tags: z.array(z.string()) }) }) }),
    )
    expect(check('chat', { user: { tags: ['a'] } })).toBeUndefined()
    const error = check('chat', { user: { tags: ['a', 2] } }) as EventwireError
    expect(error).toBeInstanceOf(EventwireError)
    expect(error.code).toBe('ERR_INVALID')
    expect(error.eventType).toBe('chat')
    expect(error.issues).toEqual([{ path: 'user.tags[1]', message: expect.any(String) }])
    expect(error.message).toMatch(/^invalid "chat" event: user\.tags\[1\]: /)
  })

  it('refuses a type with no schema, or lets it through with otherTypes: allow', () => {
    const schema = numberSchema()
    expect(createDetailCheck(defineEvents({ a: schema }))('b', 1)).toMatchObject({
      code: 'ERR_INVALID',
      message: 'invalid "b" event: no schema is declared for this type',
    })
    expect(createDetailCheck(defineEvents({ a: schema }, { otherTypes: 'allow' }))('b', 1)).toBeUndefined()
  })

  it('keeps at most five issues, each message at most 100 characters and each path at most 60, under 1,024 in all', () => {
    const many: StandardSchemaV1 = {
      '~standard': {
        version: 1,
        vendor: 'test',
        validate: () => ({
          issues: Array.from({ length: 1_000 }, (_, i) => ({
            message: 'm'.repeat(10_000),
            path: Array.from({ length: 1_000 }, () => `key${i}`),
          })),
        }),
      },
    }
    const error = createDetailCheck(defineEvents({ x: many }))('x', {}) as EventwireError
    expect(error.issues).toHaveLength(5)
    for (const issue of error.issues!) {
      expect(issue.message.length).toBeLessThanOrEqual(101)
      expect(issue.path.length).toBeLessThanOrEqual(61)
    }
    expect(error.message).toMatch(/\(and 995 more\)$/)
    expect(error.message.length).toBeLessThan(1024)
  })

  it('makes a schema that throws or rejects an invalid detail, with the cause kept for onError', async () => {
    const boom = new Error('boom')
    const throwing: StandardSchemaV1 = {
      '~standard': {
        version: 1,
        vendor: 'test',
        validate: () => {
          throw boom
        },
      },
    }
    const rejecting: StandardSchemaV1 = {
      '~standard': { version: 1, vendor: 'test', validate: () => Promise.reject(boom) },
    }
    const check = createDetailCheck(defineEvents({ throwing, rejecting }))
    expect(check('throwing', 1)).toMatchObject({ code: 'ERR_INVALID', cause: boom })
    const later = check('rejecting', 1)
    expect(later).toBeInstanceOf(Promise)
    await expect(later).resolves.toMatchObject({ code: 'ERR_INVALID', cause: boom })
    // The error frame's text never carries what the schema threw.
    expect((await later)!.message).not.toContain('boom')
  })

  it('reads any thenable as an answer to wait for, and a result that is no result as invalid', async () => {
    const thenable: StandardSchemaV1 = {
      '~standard': {
        version: 1,
        vendor: 'test',
        validate: () =>
          ({
            // biome-ignore lint/suspicious/noThenProperty: a thenable that is no promise, on purpose
            then: (resolve: (result: unknown) => void) => resolve({ issues: [{ message: 'no' }] }),
          }) as never,
      },
    }
    const broken: StandardSchemaV1 = {
      '~standard': { version: 1, vendor: 'test', validate: () => undefined as never },
    }
    const check = createDetailCheck(defineEvents({ thenable, broken }))
    const later = check('thenable', 1)
    expect(later).toBeInstanceOf(Promise)
    await expect(later).resolves.toMatchObject({ code: 'ERR_INVALID' })
    expect(check('broken', 1)).toMatchObject({ code: 'ERR_INVALID' })
  })

  it('answers with a promise for a schema that answers later', async () => {
    const check = createDetailCheck(defineEvents({ a: numberSchema(true) }))
    await expect(check('a', { n: 1 })).resolves.toBeUndefined()
    await expect(check('a', { n: 'x' })).resolves.toMatchObject({ code: 'ERR_INVALID' })
  })
})

describe('OrderedChecks', () => {
  it('keeps order behind steps that answer later, and refuses past its bound', async () => {
    const done: number[] = []
    const refused: number[] = []
    const checks = new OrderedChecks<number>(
      (n) => {
        if (n % 3 !== 0) {
          done.push(n)
          return undefined
        }
        return new Promise<void>((resolve) => setTimeout(resolve, 1)).then(() => void done.push(n))
      },
      5,
      (n) => refused.push(n),
    )
    for (let n = 0; n < 5; n++) checks.push(n)
    await waitFor(() => done.length === 5, { timeoutMs: 1_000 })
    expect(done).toEqual([0, 1, 2, 3, 4])
    checks.push(6)
    for (let n = 7; n < 14; n++) checks.push(n)
    await waitFor(() => done.length === 11, { timeoutMs: 1_000 })
    expect(done.slice(5)).toEqual([6, 7, 8, 9, 10, 11])
    expect(refused).toEqual([12, 13])
  })
})

describe('targets with events', () => {
  it('throw ERR_INVALID at dispatchEvent for an invalid detail, deliver nothing, and check nothing with dispatched: false', () => {
    const events = defineEvents({ a: numberSchema() })
    const target = createInProcessEventTarget({ events })
    const got: unknown[] = []
    target.addEventListener('a', (event) => got.push(event.detail))
    expect(() => target.dispatchEvent(new CustomEvent('a', { detail: { n: 'x' } }) as never)).toThrow(
      expect.objectContaining({ code: 'ERR_INVALID', issues: [{ path: 'n', message: 'expected a number' }] }),
    )
    target.dispatchEvent(new CustomEvent('a', { detail: { n: 1 } }) as never)
    expect(got).toEqual([{ n: 1 }])
    expect(target.stats().dispatched).toBe(1)
    const unchecked = createInProcessEventTarget({ events, validate: { dispatched: false } })
    expect(unchecked.dispatchEvent(new CustomEvent('a', { detail: 'anything' }) as never)).toBe(true)
  })

  it('refuse an events option that is no declaration', () => {
    expect(() => createInProcessEventTarget({ events: 42 as never })).toThrow(
      expect.objectContaining({ code: 'ERR_INVALID_OPTION' }),
    )
  })

  it('report an asynchronous verdict at dispatch to onError (a synchronous dispatchEvent cannot wait)', async () => {
    const errors: EventwireError[] = []
    const target = createInProcessEventTarget({
      events: defineEvents({ a: numberSchema(true) }),
      onError: (error) => errors.push(error),
    })
    target.dispatchEvent(new CustomEvent('a', { detail: { n: 'x' } }) as never)
    await waitFor(() => errors.length === 1, { timeoutMs: 1_000 })
    expect(errors[0]!.code).toBe('ERR_INVALID')
  })

  it('pass details to listeners as they were sent (a schema checks, never rewrites)', () => {
    const events = defineEvents({ a: z.object({ n: z.string().transform(Number) }) })
    const target = createInProcessEventTarget({ events })
    const got: unknown[] = []
    target.addEventListener('a', (event) => got.push(event.detail))
    target.dispatchEvent(new CustomEvent('a', { detail: { n: '7', extra: true } }) as never)
    expect(got).toEqual([{ n: '7', extra: true }])
  })

  it('a spoke with validate.received drops what its hub relays unchecked, counted and reported, in order behind slow schemas', async () => {
    const events = defineEvents({ a: numberSchema(true), b: numberSchema() })
    // A hub that checks nothing, as an older hub would.
    const hub = new Hub({ events, validate: { received: false, dispatched: false } })
    const errors: EventwireError[] = []
    const spoke = new Spoke({
      connect: createMemoryConnector(hub).connect,
      heartbeatIntervalMs: 0,
      events,
      validate: { received: true },
      onError: (error) => errors.push(error),
    })
    const got: string[] = []
    spoke.addEventListener('a', (event) => got.push(`a${event.detail.n}`))
    spoke.addEventListener('b', (event) => got.push(`b${event.detail.n}`))
    await spoke.ready
    await spoke.flush()
    for (let n = 0; n < 5; n++) {
      hub.dispatchEvent(new CustomEvent('a', { detail: { n } }) as never)
      hub.dispatchEvent(new CustomEvent('a', { detail: { n: 'x' } }) as never)
      hub.dispatchEvent(new CustomEvent('b', { detail: { n } }) as never)
      hub.dispatchEvent(new CustomEvent('b', { detail: 'x' }) as never)
    }
    await waitFor(() => got.length === 10, { timeoutMs: 2_000 })
    await spoke.flush()
    expect(got).toEqual(['a0', 'b0', 'a1', 'b1', 'a2', 'b2', 'a3', 'b3', 'a4', 'b4'])
    expect(spoke.stats().dropped).toBe(10)
    expect(errors.every((error) => error.code === 'ERR_INVALID')).toBe(true)
    expect(errors.length).toBe(10)
    await spoke.close()
    await hub.close()
  })

  it('a hub counts each invalid event in stats().dropped and reports at most 10 a second per link', async () => {
    const errors: EventwireError[] = []
    const hub = new Hub({
      events: defineEvents({ a: numberSchema() }),
      onError: (error) => errors.push(error),
    })
    const hubErrors: EventwireError[] = []
    const spoke = new Spoke({
      connect: createMemoryConnector(hub).connect,
      heartbeatIntervalMs: 0,
      events: defineEvents({ a: numberSchema() }),
      validate: { dispatched: false },
      onError: (error) => hubErrors.push(error),
    })
    await spoke.ready
    for (let n = 0; n < 100; n++) spoke.dispatchEvent(new CustomEvent('a', { detail: { n: 'x' } }) as never)
    await spoke.flush()
    expect(hub.stats().dropped).toBe(100)
    expect(errors).toHaveLength(10)
    await waitFor(() => hubErrors.length === 10, { timeoutMs: 1_000 })
    expect(hubErrors[0]!.message).toMatch(/^hub reported: invalid "a" event: n: expected a number/)
    await spoke.close()
    await hub.close()
  })

  it('request/reply works with otherTypes: allow (replies travel on a type of each requester), the request checked', async () => {
    // A request travels in its envelope: the schema of its type describes the envelope.
    const envelope = z.object({ id: z.number(), replyTo: z.string(), payload: z.object({ n: z.number() }) })
    const target = createInProcessEventTarget({
      events: defineEvents({ double: envelope }, { otherTypes: 'allow' }),
    })
    const stop = respond<{ n: number }, number>(target, 'double', ({ n }) => n * 2)
    await expect(request<number>(target, 'double', { n: 21 })).resolves.toBe(42)
    await expect(request<number>(target, 'double', { n: 'x' })).rejects.toMatchObject({ code: 'ERR_INVALID' })
    stop()
    await target.close()
  })

  it('createPubSub with events checks what it publishes on the in-process target it makes', () => {
    const pubSub = createPubSub({ events: defineEvents({ tick: numberSchema() }) })
    expect(() => pubSub.publish('tick', { n: 'x' } as never)).toThrow(
      expect.objectContaining({ code: 'ERR_INVALID' }),
    )
  })
})
