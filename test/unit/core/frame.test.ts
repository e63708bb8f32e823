import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { createTextCodec } from '../../../src/core/codec.js'
import { EventwireError } from '../../../src/core/errors.js'
import {
  DEFAULT_FRAME_LIMITS,
  decodeFrames,
  encodeBatch,
  encodeError,
  encodeEvent,
  encodeHello,
  encodePing,
  encodePong,
  encodeSub,
  encodeUnsub,
  PROTOCOL_VERSION,
} from '../../../src/core/frame.js'
import { jsonSerializer } from '../../../src/core/serializer.js'
import type { Serializer } from '../../../src/core/types.js'

function frames(data: string, serializer: Serializer = jsonSerializer) {
  const result = decodeFrames(data, DEFAULT_FRAME_LIMITS, serializer)
  if (!result.ok) throw result.error
  return result.frames
}

function failure(data: unknown, limits = DEFAULT_FRAME_LIMITS) {
  const result = decodeFrames(data as string, limits)
  if (result.ok) throw new Error(`expected ${JSON.stringify(data)} to be rejected`)
  return result.error
}

describe('frame codec', () => {
  it('round-trips every frame kind', () => {
    expect(frames(encodeHello('node-1', 'spoke'))).toEqual([
      { kind: 'hello', version: PROTOCOL_VERSION, nodeId: 'node-1', role: 'spoke' },
    ])
    expect(frames(encodeEvent('t', 'o', { a: [1] }, jsonSerializer))).toEqual([
      { kind: 'event', type: 't', origin: 'o', detail: { a: [1] }, hops: 0 },
    ])
    expect(encodeEvent('t', 'o', 1, jsonSerializer, 2)).toBe('[1,"t","o",1,2]')
    expect(frames(encodeEvent('t', 'o', 1, jsonSerializer, 2))[0]).toMatchObject({ hops: 2 })
    expect(frames(encodeSub('t'))).toEqual([{ kind: 'sub', type: 't' }])
    expect(frames(encodeUnsub('t'))).toEqual([{ kind: 'unsub', type: 't' }])
    expect(frames(encodePing(7))).toEqual([{ kind: 'ping', id: 7 }])
    expect(frames(encodePong(7))).toEqual([{ kind: 'pong', id: 7 }])
    expect(frames(encodeError('ERR_UNAUTHORIZED', 'no', 't'))).toEqual([
      { kind: 'error', code: 'ERR_UNAUTHORIZED', message: 'no', eventType: 't' },
    ])
  })

  it('accepts a hello without a role (role undefined) and refuses an unknown role', () => {
    expect(frames('[0,1,"n"]')).toEqual([{ kind: 'hello', version: 1, nodeId: 'n', role: undefined }])
    expect(decodeFrames('[0,1,"n","boss"]').ok).toBe(false)
  })

  it('carries a sequence number as the sixth element of an event, with hops written before it', () => {
    expect(encodeEvent('t', 'o', 1, jsonSerializer, 0, 42)).toBe('[1,"t","o",1,0,42]')
    // Built from the cached head: the same text as stringifying the whole array, whatever the numbers.
    for (const [hops, seq] of [
      [0, 0],
      [3, 1_733_000_000_000_000],
      [0, Number.MAX_SAFE_INTEGER],
      [1, 1.5],
      [0, -0],
    ] as const) {
      const detail = { text: 'hé "quoted" 🚀', n: [1, null] }
      expect(encodeEvent('t"\\', 'o\n', detail, jsonSerializer, hops, seq)).toBe(
        JSON.stringify([1, 't"\\', 'o\n', detail, hops, seq]),
      )
    }
    expect(frames('[1,"t","o",1,2,42]')).toEqual([
      { kind: 'event', type: 't', origin: 'o', detail: 1, hops: 2, seq: 42 },
    ])
    // Without one, the frame has no seq at all (hub-and-spoke links never write it).
    expect(frames('[1,"t","o",1]')[0]).not.toHaveProperty('seq')
  })

  it('carries features in a hello, keeps names it does not know, and bounds the list', () => {
    expect(encodeHello('n', 'peer', ['run'])).toBe('[0,1,"n","peer",["run"]]')
    expect(frames(encodeHello('n', 'peer', ['run']))).toEqual([
      { kind: 'hello', version: 1, nodeId: 'n', role: 'peer', features: ['run'] },
    ])
    expect(frames('[0,1,"n","hub",["run","later-thing"]]')[0]).toMatchObject({
      features: ['run', 'later-thing'],
    })
    for (const bad of [
      '[0,1,"n","hub","run"]',
      '[0,1,"n","hub",[1]]',
      '[0,1,"n","hub",[""]]',
      `[0,1,"n","hub",${JSON.stringify(['f'.repeat(33)])}]`,
      `[0,1,"n","hub",${JSON.stringify(Array.from({ length: 17 }, (_, i) => `f${i}`))}]`,
      '[0,1,"n","hub",[],"extra"]',
    ]) {
      expect(failure(bad).code).toBe('ERR_FRAME_MALFORMED')
    }
  })

  it('decodes a run into its events, alone or in a batch, and bounds it by maxBatchFrames', () => {
    expect(frames('[9,"t","o",0,1,{"a":2},null]')).toEqual([
      { kind: 'event', type: 't', origin: 'o', detail: 1, hops: 0 },
      { kind: 'event', type: 't', origin: 'o', detail: { a: 2 }, hops: 0 },
      { kind: 'event', type: 't', origin: 'o', detail: null, hops: 0 },
    ])
    expect(frames('[4,[2,"t"],[9,"t","o",3,"x","y"],[6,1]]').map((frame) => frame.kind)).toEqual([
      'sub',
      'event',
      'event',
      'ping',
    ])
    expect(frames('[9,"t","o",3,"x","y"]')[1]).toMatchObject({ hops: 3, detail: 'y' })
    for (const bad of [
      '[9,"t","o",0]',
      '[9,"","o",0,1]',
      '[9,"t","",0,1]',
      '[9,"t","o",-1,1]',
      '[9,"t","o",256,1]',
    ]) {
      expect(failure(bad).code).toBe('ERR_FRAME_MALFORMED')
    }
    const tight = { ...DEFAULT_FRAME_LIMITS, maxBatchFrames: 3 }
    expect(decodeFrames('[9,"t","o",0,1,2,3]', tight).ok).toBe(true)
    expect(failure('[9,"t","o",0,1,2,3,4]', tight).code).toBe('ERR_FRAME_MALFORMED')
    expect(failure('[4,[9,"t","o",0,1,2],[9,"t","o",0,3,4]]', tight).code).toBe('ERR_FRAME_MALFORMED')
    // With a custom serializer, run details are serialized strings like event details.
    const reversing: Serializer = {
      stringify: (value) => JSON.stringify(value),
      parse: (text) => JSON.parse(text),
    }
    expect(
      frames('[9,"t","o",0,"[1]","2"]', reversing).map((frame) => (frame as { detail: unknown }).detail),
    ).toEqual([[1], 2])
    expect(decodeFrames('[9,"t","o",0,1]', DEFAULT_FRAME_LIMITS, reversing).ok).toBe(false)
  })

  it('carries an undefined detail as null, like CustomEvent does by default', () => {
    expect(frames(encodeEvent('t', 'o', undefined, jsonSerializer))[0]).toMatchObject({ detail: null })
  })

  it('joins encoded frames into a batch without re-encoding and decodes it in order', () => {
    const batch = encodeBatch([encodeSub('a'), encodeEvent('a', 'o', 1, jsonSerializer), encodeUnsub('a')])
    expect(frames(batch).map((frame) => frame.kind)).toEqual(['sub', 'event', 'unsub'])
  })

  it('uses a custom serializer for details, carried as a string', () => {
    const serializer: Serializer = {
      stringify: (value) => `<${JSON.stringify(value)}>`,
      parse: (text) => JSON.parse(text.slice(1, -1)),
    }
    const encoded = encodeEvent('t', 'o', { n: 1 }, serializer)
    expect(JSON.parse(encoded)[3]).toBe('<{"n":1}>')
    expect(frames(encoded, serializer)[0]).toMatchObject({ detail: { n: 1 } })
    const bad = decodeFrames('[1,"t","o","not wrapped"]', DEFAULT_FRAME_LIMITS, serializer)
    expect(bad.ok).toBe(false)
    if (!bad.ok) expect(bad.error.code).toBe('ERR_SERIALIZE')
  })

  it('throws ERR_SERIALIZE for a detail that cannot be serialized', () => {
    const circular: Record<string, unknown> = {}
    circular.self = circular
    for (const detail of [circular, 10n]) {
      try {
        encodeEvent('t', 'o', detail, jsonSerializer)
        throw new Error('expected a throw')
      } catch (error) {
        expect(error).toBeInstanceOf(EventwireError)
        expect((error as EventwireError).code).toBe('ERR_SERIALIZE')
        expect((error as EventwireError).eventType).toBe('t')
      }
    }
  })

  it('rejects malformed input with ERR_FRAME_MALFORMED and never throws', () => {
    const bad: unknown[] = [
      '',
      'garbage',
      '[1,"t","o"',
      '{}',
      '[]',
      '"text"',
      'null',
      '[99]',
      '["1","t","o",1]',
      '[1,"","o",1]',
      '[1,"t","",1]',
      '[1,5,"o",1]',
      '[1,"t","o"]',
      '[1,"t","o",1,-1]',
      '[1,"t","o",1,2,3,4]',
      '[1,"t","o",1,0,-1]',
      '[1,"t","o",1,0,1.5]',
      '[1,"t","o",1,0,"7"]',
      '[1,"t","o",1,"2"]',
      '[2]',
      '[2,""]',
      '[2,"t","extra"]',
      '[6,-1]',
      '[6,1.5]',
      '[6,"1"]',
      '[0,"1","n"]',
      '[0,1]',
      '[0,1,"n","boss"]',
      '[4]',
      '[4,[4,[2,"t"]]]',
      '[4,[2,"t"],"x"]',
      '[4,[2,"t"],[]]',
      '[5,"ERR_X"]',
      '[5,"ERR_X",7,null]',
      42,
      undefined,
    ]
    for (const input of bad) {
      const error = failure(input)
      expect(error).toBeInstanceOf(EventwireError)
      expect(error.code, String(input)).toBe('ERR_FRAME_MALFORMED')
    }
  })

  it('rejects a whole batch when one item is bad', () => {
    const error = failure(`[4,${encodeSub('ok')},[2,""]]`)
    expect(error.message).toMatch(/valid type/)
  })

  it('refuses oversized frames before parsing them, and over-long types and batches', () => {
    const limits = { ...DEFAULT_FRAME_LIMITS, maxFrameBytes: 64, maxTypeLength: 4, maxBatchFrames: 2 }
    expect(failure(`[2,"${'a'.repeat(100)}"]`, limits).code).toBe('ERR_FRAME_TOO_LARGE')
    expect(failure('[2,"abcde"]', limits).code).toBe('ERR_FRAME_MALFORMED')
    expect(failure('[4,[2,"a"],[2,"b"],[2,"c"]]', limits).message).toMatch(/maxBatchFrames/)
  })

  it('maps an unknown error code from a peer to ERR_CONNECTION naming it', () => {
    expect(frames('[5,"ERR_FROM_THE_FUTURE","hi",null]')[0]).toMatchObject({
      kind: 'error',
      code: 'ERR_CONNECTION',
      message: expect.stringContaining('ERR_FROM_THE_FUTURE'),
    })
  })

  it('rejects every truncation of a valid batch (split at every position)', () => {
    const batch = encodeBatch([
      encodeHello('n', 'peer'),
      encodeSub('chat'),
      encodeEvent('chat', 'n', { text: 'hé 🚀' }, jsonSerializer),
    ])
    for (let cut = 0; cut < batch.length; cut++) {
      const result = decodeFrames(batch.slice(0, cut))
      expect(result.ok, `prefix of ${cut}`).toBe(false)
    }
    expect(decodeFrames(batch).ok).toBe(true)
  })

  it('returns a result, never throws, for random mutations of valid frames', () => {
    const seeds = [
      encodeEvent('t', 'o', { a: [1, 'x', null] }, jsonSerializer),
      encodeBatch([encodeSub('a'), encodePing(3)]),
      encodeError('ERR_OVERFLOW', 'slow'),
    ]
    let state = 42
    const random = () => {
      state = (state * 1_103_515_245 + 12_345) % 2 ** 31
      return state / 2 ** 31
    }
    const alphabet = '[]{}",:0123456789-.eE truefalsnul\\u'
    for (let i = 0; i < 5_000; i++) {
      const seed = seeds[i % seeds.length]!
      const chars = [...seed]
      const edits = 1 + Math.floor(random() * 4)
      for (let e = 0; e < edits; e++) {
        const at = Math.floor(random() * chars.length)
        const op = random()
        if (op < 0.33) chars.splice(at, 1)
        else if (op < 0.66) chars.splice(at, 0, alphabet[Math.floor(random() * alphabet.length)]!)
        else chars[at] = alphabet[Math.floor(random() * alphabet.length)]!
      }
      const result = decodeFrames(chars.join(''))
      if (!result.ok) expect(result.error).toBeInstanceOf(EventwireError)
    }
  })
})

describe('encodeEvent: the text of the whole frame array', () => {
  it('writes exactly what JSON.stringify of [1, type, origin, detail, hops?] writes, for any input', () => {
    fc.assert(
      fc.property(
        fc.string({ minLength: 1, maxLength: 40 }),
        fc.string({ minLength: 1, maxLength: 40 }),
        fc.jsonValue(),
        fc.integer({ min: 0, max: 255 }),
        (type, origin, detail, hops) => {
          const frame = hops > 0 ? [1, type, origin, detail, hops] : [1, type, origin, detail]
          expect(encodeEvent(type, origin, detail, jsonSerializer, hops)).toBe(JSON.stringify(frame))
        },
      ),
      { numRuns: 2_000 },
    )
  })

  it('refuses a detail that JSON cannot carry, instead of sending null', () => {
    expect(() => encodeEvent('t', 'o', () => {}, jsonSerializer)).toThrow(
      expect.objectContaining({ code: 'ERR_SERIALIZE' }),
    )
    expect(encodeEvent('t', 'o', undefined, jsonSerializer)).toBe('[1,"t","o",null]')
  })
})

describe('text runs: consecutive events of one type and origin in one run frame', () => {
  it('decode to exactly the events of the plain batch, in order, for any mix of events and other frames', () => {
    const codec = createTextCodec()
    const item = fc.oneof(
      fc.record({
        kind: fc.constant('event' as const),
        type: fc.constantFrom('a', 'b', 'é"\\'),
        origin: fc.constantFrom('o1', 'o2'),
        detail: fc.jsonValue(),
        hops: fc.constantFrom(0, 0, 0, 2),
        id: fc.option(fc.constantFrom('id-1', 'id-2'), { nil: undefined }),
      }),
      fc.record({ kind: fc.constant('ping' as const), n: fc.nat(1000) }),
    )
    fc.assert(
      fc.property(fc.array(item, { minLength: 1, maxLength: 40 }), (items) => {
        const frames: string[] = []
        const keys: Array<string | undefined> = []
        for (const it of items) {
          if (it.kind === 'ping') {
            frames.push(codec.ping(it.n))
            keys.push(undefined)
          } else {
            frames.push(codec.event(it.type, it.origin, it.detail, it.hops, it.id))
            keys.push(codec.runKey!(it.type, it.origin, it.hops, it.id))
          }
        }
        const plain = codec.decode(codec.batch(frames))
        const withRuns = codec.batch(frames, { runs: true, runKeys: keys })
        expect(codec.decode(withRuns)).toEqual(plain)
        expect(plain.ok).toBe(true)
      }),
      { numRuns: 1_000 },
    )
  })

  it('writes a stretch of same-type events from one origin as one run, which is shorter', () => {
    const codec = createTextCodec()
    const frames = [1, 2, 3].map((n) => codec.event('tick', 'node', { n }))
    const keys = [1, 2, 3].map(() => codec.runKey!('tick', 'node'))
    const withRuns = codec.batch(frames, { runs: true, runKeys: keys })
    expect(withRuns).toBe('[9,"tick","node",0,{"n":1},{"n":2},{"n":3}]')
    expect(withRuns.length).toBeLessThan(codec.batch(frames).length)
    expect(codec.features).toContain('run')
  })
})
