import { afterEach, describe, expect, it } from 'vitest'
import type { EventwireError, EventwireStatus } from '../../src/index.js'
import { waitFor } from '../../src/testing/index.js'
import { client, hubWith, rawClient } from '../support/websocket.js'

// Who sent an event and who may connect, on a WebSocket hub over real sockets: the hub sets every
// event's origin from the connection it came on, and a refused client knows it was refused.

const cleanup: Array<() => Promise<unknown> | unknown> = []
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step()
})

describe('websocket hub: origins', () => {
  it('a spoke that writes another spoke’s id as the origin neither hides its event from that spoke nor passes it off as theirs', async () => {
    const { running } = await hubWith(cleanup)
    const victim = client(running.url)
    cleanup.push(() => victim.close())
    const got: unknown[] = []
    victim.addEventListener('news', (event) => got.push(event.detail))
    await victim.ready
    await victim.flush()
    const observer = await rawClient(cleanup, running.url)
    observer.socket.send('[4,[0,1,"observer","spoke"],[2,"news"]]')
    const forger = await rawClient(cleanup, running.url)
    await waitFor(() => running.hub.stats().subscriptions === 1 && running.hub.stats().connections === 3, {
      timeoutMs: 5_000,
    })
    const origin = JSON.stringify(victim.nodeId)
    forger.socket.send(`[4,[0,1,${origin},"spoke"],[1,"news",${origin},1],[1,"news",${origin},2]]`)
    await waitFor(() => got.length === 2, { timeoutMs: 5_000 })
    expect(got).toEqual([1, 2])
    await waitFor(() => observer.frames.filter((frame) => frame[0] === 1).length === 2, { timeoutMs: 5_000 })
    const origins = observer.frames.filter((frame) => frame[0] === 1).map((frame) => frame[2])
    expect(origins.every((seen) => seen !== victim.nodeId && seen === origins[0])).toBe(true)
    // The forger's events all carry one origin, the hub's name for its connection.
    victim.dispatchEvent(new CustomEvent('news', { detail: 3 }))
    await waitFor(() => observer.frames.filter((frame) => frame[0] === 1).length === 3, { timeoutMs: 5_000 })
    const victimOrigin = observer.frames.filter((frame) => frame[0] === 1)[2]?.[2]
    expect(victimOrigin).not.toBe(origins[0])
  })
})

describe('websocket hub: refused clients', () => {
  it('authenticate returning null or undefined refuses the client (an unknown token is no anonymous user)', async () => {
    const users = new Map([['good', { name: 'ada' }]])
    const { running } = await hubWith(cleanup, {
      authenticate: (request) => users.get(new URL(request.url).searchParams.get('token') ?? ''),
    })
    const errors: EventwireError[] = []
    const refused = client(`${running.url}?token=unknown`, { onError: (error) => errors.push(error) })
    cleanup.push(() => refused.close())
    await waitFor(() => errors.length > 0, { timeoutMs: 2_000 })
    expect(errors[0]?.code).toBe('ERR_UNAUTHORIZED')
    expect(running.hub.stats().connections).toBe(0)
    const admitted = client(`${running.url}?token=good`)
    cleanup.push(() => admitted.close())
    await admitted.ready
    expect(running.hub.stats().connections).toBe(1)
  })

  it('a refused Node client reports ERR_UNAUTHORIZED within 2 s, retries at most 3 times in 3 s, and never shows its token', async () => {
    let attempts = 0
    const { running } = await hubWith(cleanup, {
      authenticate: () => {
        attempts++
        return false
      },
    })
    const errors: EventwireError[] = []
    const statuses: EventwireStatus[] = []
    const started = Date.now()
    const refused = client(`${running.url}?token=hunter2`, {
      onError: (error) => errors.push(error),
      onStatus: (status) => statuses.push(status),
    })
    cleanup.push(() => refused.close())
    await waitFor(() => errors.length > 0, { timeoutMs: 2_000 })
    expect(Date.now() - started).toBeLessThan(2_000)
    expect(errors[0]?.code).toBe('ERR_UNAUTHORIZED')
    await waitFor(() => Date.now() - started >= 3_000, { timeoutMs: 4_000, intervalMs: 50 })
    expect(attempts).toBeGreaterThanOrEqual(1)
    expect(attempts).toBeLessThanOrEqual(3)
    const texts = [
      ...errors.map((error) => `${error.message} ${String(error.cause ?? '')}`),
      ...statuses.map(
        (status) => JSON.stringify(status) + ('error' in status ? String(status.error?.message) : ''),
      ),
    ]
    for (const text of texts) {
      expect(text).not.toContain('hunter2')
      expect(text).not.toContain('token=')
    }
  })

  it('a refused origin is told with 4403 and reported as ERR_UNAUTHORIZED', async () => {
    const { running } = await hubWith(cleanup, { allowedOrigins: ['https://app.example'] })
    const errors: EventwireError[] = []
    const refused = client(running.url, {
      wsOptions: { headers: { origin: 'https://evil.example' } },
      onError: (error) => errors.push(error),
    })
    cleanup.push(() => refused.close())
    await waitFor(() => errors.length > 0, { timeoutMs: 2_000 })
    expect(errors[0]).toMatchObject({ code: 'ERR_UNAUTHORIZED' })
    expect(errors[0]?.message).toContain('origin')
  })

  it('an async url provider is called before every attempt, so a fresh token gets the client in', async () => {
    const { running } = await hubWith(cleanup, {
      authenticate: (request) => new URL(request.url).searchParams.get('token') === 'fresh' || false,
    })
    const tokens = ['stale', 'fresh']
    let calls = 0
    const errors: EventwireError[] = []
    const target = client(
      async () => {
        const token = tokens[Math.min(calls++, tokens.length - 1)]
        return `${running.url}?token=${token}`
      },
      { onError: (error) => errors.push(error), reconnect: { initialDelayMs: 20, maxDelayMs: 100 } },
    )
    cleanup.push(() => target.close())
    await target.ready
    expect(calls).toBe(2)
    expect(errors.map((error) => error.code)).toEqual(['ERR_UNAUTHORIZED'])
    expect(running.hub.stats().connections).toBe(1)
  })
})
