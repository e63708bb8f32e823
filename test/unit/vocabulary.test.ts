import { describe, expect, it } from 'vitest'
import { readLimitsWithOldNames } from '../../src/core/options.js'
import { createInProcessEventTarget } from '../../src/event-target-in-process/index.js'
import { createRedisEventTarget } from '../../src/event-target-redis/index.js'
import { createWebSocketClientEventTarget } from '../../src/event-target-websocket-client/index.js'
import { createWebSocketServerEventTarget } from '../../src/event-target-websocket-server/index.js'
import type { HubConnection, Link } from '../../src/transport/index.js'

// One `limits` object on every target; the older names of the WebSocket and iroh targets still work.
describe('limits: one name on every target, the older names folded in', () => {
  it('takes an old name as the limit it stood for, and refuses it when limits says otherwise', () => {
    const old = { maxFrameBytes: { name: 'maxPayload', value: 1024 } }
    expect(readLimitsWithOldNames(undefined, old).maxFrameBytes).toBe(1024)
    expect(readLimitsWithOldNames({ maxFrameBytes: 1024 }, old).maxFrameBytes).toBe(1024)
    expect(() => readLimitsWithOldNames({ maxFrameBytes: 2048 }, old)).toThrow(
      expect.objectContaining({ code: 'ERR_INVALID_OPTION', message: expect.stringContaining('maxPayload') }),
    )
    expect(() =>
      readLimitsWithOldNames(undefined, { maxFrameBytes: { name: 'maxPayload', value: -1 } }),
    ).toThrow(expect.objectContaining({ code: 'ERR_INVALID_OPTION' }))
    expect(readLimitsWithOldNames({ maxTypeLength: 10 }, {})).toMatchObject({
      maxTypeLength: 10,
      maxFrameBytes: 4 * 1024 * 1024,
    })
  })

  it('applies limits and the deprecated names alike on the WebSocket hub and client', async () => {
    for (const options of [
      { limits: { maxFrameBytes: 2048, maxTypeLength: 8 } },
      { maxPayload: 2048, maxTypeLength: 8 },
    ]) {
      const hub = createWebSocketServerEventTarget(options)
      const sent: string[] = []
      // The hub is a core Hub: a link handed to it directly stands for a socket.
      const core = hub as unknown as { accept(link: Link<string>): HubConnection }
      const connection = core.accept({ send: (data: string) => sent.push(data), close: () => {} })
      connection.receive(JSON.stringify([0, 1, 'spoke-1', 'spoke']))
      connection.receive(JSON.stringify([2, 'much-too-long']))
      connection.receive(JSON.stringify([1, 'short', 'spoke-1', 'x'.repeat(4096)]))
      await hub.flush()
      const codes = sent
        .flatMap((text) => JSON.parse(text) as unknown[])
        .flatMap((frame) => (Array.isArray(frame) && frame[0] === 5 ? [frame[1]] : []))
      expect(codes, JSON.stringify(options)).toEqual(['ERR_FRAME_MALFORMED', 'ERR_FRAME_TOO_LARGE'])
      await hub.close()
    }
    expect(() => createWebSocketServerEventTarget({ maxPayload: 1, limits: { maxFrameBytes: 2 } })).toThrow(
      expect.objectContaining({ code: 'ERR_INVALID_OPTION' }),
    )
    expect(() =>
      createWebSocketClientEventTarget({
        url: 'ws://127.0.0.1:9/',
        maxPayload: 1,
        limits: { maxFrameBytes: 2 },
      }),
    ).toThrow(expect.objectContaining({ code: 'ERR_INVALID_OPTION' }))
  })

  it('refuses a listener for a type longer than limits.maxTypeLength on hubs and spokes alike', async () => {
    const targets = [
      createWebSocketServerEventTarget({ limits: { maxTypeLength: 8 } }),
      createWebSocketClientEventTarget({
        url: 'ws://127.0.0.1:9/',
        limits: { maxTypeLength: 8 },
        onError: () => {},
      }),
    ]
    for (const target of targets) {
      expect(() => target.addEventListener('much-too-long', () => {})).toThrow(
        expect.objectContaining({ code: 'ERR_INVALID_OPTION' }),
      )
      target.addEventListener('short', () => {})
      target.ready.catch(() => {})
      await target.close()
    }
  })

  it('gives every target a nodeId', async () => {
    const targets = [
      createInProcessEventTarget(),
      createWebSocketServerEventTarget(),
      createWebSocketClientEventTarget({ url: 'ws://127.0.0.1:9/', onError: () => {} }),
      createRedisEventTarget({ url: 'redis://127.0.0.1:9', nodeId: 'redis-node', onError: () => {} }),
    ]
    for (const target of targets) {
      expect(typeof target.nodeId).toBe('string')
      expect(target.nodeId.length).toBeGreaterThan(0)
      target.ready.catch(() => {})
      await target.close()
    }
    expect(targets[3]!.nodeId).toBe('redis-node')
    expect(new Set(targets.map((target) => target.nodeId)).size).toBe(targets.length)
  })
})
