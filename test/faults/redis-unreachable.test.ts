import { Redis } from 'ioredis'
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest'
import { createRedisEventTarget, type RedisEventTarget } from '../../src/event-target-redis/index.js'
import type { EventwireError, EventwireStatus } from '../../src/index.js'
import { waitFor } from '../../src/testing/index.js'
import { freePort, RedisServer } from '../support/redis-server.js'

/** The documented default of `readyTimeoutMs`. */
const DEFAULT_READY_TIMEOUT_MS = 10_000
/** Timers firing late on a loaded machine. */
const SLACK_MS = 1_500

const cleanup: Array<() => Promise<unknown>> = []
let server: RedisServer | undefined

afterEach(async () => {
  vi.restoreAllMocks()
  for (const step of cleanup.splice(0).reverse()) await step().catch(() => {})
})
afterAll(async () => {
  await server?.stop()
})

describe('redis unreachable under the default retry', () => {
  it('reports each cause once, prints one line each, rejects ready with ERR_TIMEOUT within 10 s, and keeps trying', async () => {
    // A port where a redis-server ran and is gone: restarted later on the same port.
    server = await RedisServer.start()
    await server.kill()
    const url = `redis://127.0.0.1:${server.port}`
    const printed: string[] = []
    vi.spyOn(console, 'error').mockImplementation((...args: unknown[]) => {
      printed.push(args.map(String).join(' '))
    })

    // Given clients, with ioredis's default options (its retry strategy never gives up).
    const clients = [new Redis(url), new Redis(url)]
    cleanup.push(async () => {
      for (const client of clients) client.disconnect()
    })
    const errors: EventwireError[] = []
    const statuses: EventwireStatus[] = []
    const withClients: RedisEventTarget = createRedisEventTarget({
      publishClient: clients[0]!,
      subscribeClient: clients[1]!,
      onError: (error) => errors.push(error),
      onStatus: (status) => statuses.push(status),
    })
    cleanup.push(() => withClients.close())
    // Made from the URL, without onError: the default reporter prints.
    const fromUrl = createRedisEventTarget({ url })
    cleanup.push(() => fromUrl.close())
    const got: unknown[] = []
    withClients.addEventListener('order', (event) => got.push(event.detail))

    const started = Date.now()
    const outcomes = await Promise.allSettled([withClients.ready, fromUrl.ready])
    const elapsed = Date.now() - started
    expect(elapsed).toBeLessThan(DEFAULT_READY_TIMEOUT_MS + SLACK_MS)
    for (const outcome of outcomes) {
      expect(outcome.status).toBe('rejected')
      const reason = (outcome as PromiseRejectedResult).reason as EventwireError
      expect(reason.code).toBe('ERR_TIMEOUT')
      // It names what went wrong.
      expect(reason.message).toMatch(/not connected within 10000 ms: ERR_CONNECTION: .*ECONNREFUSED/)
    }

    // Many attempts, one report of their cause (both clients fail alike), then the timeout.
    const attempts = statuses.filter((status) => status.type === 'reconnecting').length
    expect(attempts).toBeGreaterThanOrEqual(10)
    expect(errors.map((error) => error.code)).toEqual(['ERR_CONNECTION', 'ERR_TIMEOUT'])
    expect(errors[0]!.message).toMatch(/ECONNREFUSED/)
    // The default reporter: one line per report, no stack.
    expect(printed).toHaveLength(2)
    expect(printed[0]).toMatch(/^eventwire ERR_CONNECTION: redis: connect ECONNREFUSED .*$/)
    expect(printed[1]).toMatch(/^eventwire ERR_TIMEOUT: redis: not connected within 10000 ms/)
    expect(printed.every((line) => !line.includes('\n'))).toBe(true)

    // The targets kept trying: once the server is back they connect, and events flow.
    await server.restart()
    await waitFor(() => statuses.some((status) => status.type === 'connected'), {
      timeoutMs: 10_000,
      message: 'connected after the server came back',
    })
    await withClients.flush()
    await fromUrl.flush()
    fromUrl.dispatchEvent(new CustomEvent('order', { detail: 'o-1' }))
    await waitFor(() => got.length === 1, { timeoutMs: 5_000, message: 'the event after recovery' })
    expect(got).toEqual(['o-1'])
    expect(errors.map((error) => error.code)).toEqual(['ERR_CONNECTION', 'ERR_TIMEOUT'])
    expect(printed).toHaveLength(2)
  })

  it('takes readyTimeoutMs, 0 for no bound, and refuses a value that is not a non-negative integer', async () => {
    const url = `redis://127.0.0.1:${await freePort()}`
    const errors: EventwireError[] = []
    const short = createRedisEventTarget({ url, readyTimeoutMs: 200, onError: (error) => errors.push(error) })
    cleanup.push(() => short.close())
    const unbounded = createRedisEventTarget({ url, readyTimeoutMs: 0, onError: () => {} })
    cleanup.push(() => unbounded.close())
    let isSettled = false
    const settled = () => {
      isSettled = true
    }
    unbounded.ready.then(settled, settled)
    await expect(short.ready).rejects.toMatchObject({ code: 'ERR_TIMEOUT' })
    expect(errors.map((error) => error.code)).toEqual(['ERR_CONNECTION', 'ERR_TIMEOUT'])
    // Made at the same moment, without a bound: still waiting, until close() ends it.
    await new Promise((resolve) => setImmediate(resolve))
    expect(isSettled).toBe(false)
    await unbounded.close()
    await expect(unbounded.ready).rejects.toMatchObject({ code: 'ERR_CLOSED' })

    expect(() => createRedisEventTarget({ url, readyTimeoutMs: -1 })).toThrow(/readyTimeoutMs/)
  })
})
