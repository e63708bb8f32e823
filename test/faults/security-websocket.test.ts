import { afterEach, describe, expect, it } from 'vitest'
import { waitFor } from '../../src/testing/index.js'
import { client, hubWith, type RunningHub, rawClient } from '../support/websocket.js'

// What docs/security.md promises about the WebSocket hub, over real sockets: errors never leak stack
// traces or thrown messages to peers, and each limit refuses the offender while others are served.

const cleanup: Array<() => Promise<unknown> | unknown> = []
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step()
})

/** A well-behaved spoke listening to `type`, and what it heard. */
async function listener(running: RunningHub, type: string) {
  const target = client(running.url)
  cleanup.push(() => target.close())
  const got: unknown[] = []
  target.addEventListener(type, (event) => got.push(event.detail))
  await target.ready
  await target.flush()
  return { target, got }
}

/** A raw ws client that records every frame (batches unpacked), the raw text, and how it closed. */
const raw = (url: string) => rawClient(cleanup, url)

const SECRET = 'db password is hunter2'

describe('websocket hub: errors never leak to peers', () => {
  it('an authorize that throws an Error with a stack: the peer gets a code and a short message, no stack, no thrown message', async () => {
    const { running, errors } = await hubWith(cleanup, {
      authorize: () => {
        throw new Error(SECRET)
      },
    })
    const bad = await raw(running.url)
    bad.socket.send('[4,[0,1,"raw","spoke"],[2,"secret"],[1,"secret","raw",1]]')
    await waitFor(() => bad.errorFrames().length === 2, { timeoutMs: 5_000 })
    for (const frame of bad.errorFrames()) {
      expect(frame[1]).toBe('ERR_UNAUTHORIZED')
      expect(frame[3]).toBe('secret')
    }
    for (const text of bad.texts) {
      expect(text).not.toContain(SECRET)
      expect(text).not.toMatch(/\bat .*:\d+:\d+/)
      expect(text).not.toContain('.ts:')
    }
    // The hub's own onError keeps the whole story, cause and stack included.
    const thrown = errors.find((error) => error.message === 'authorize threw')
    const cause = thrown?.cause as Error | undefined
    expect(cause?.message).toBe(SECRET)
    expect(cause?.stack).toContain('security-websocket.test.ts')
  })

  it('an asynchronous authorize that rejects: the same, and later frames are still processed in order', async () => {
    const { running } = await hubWith(cleanup, {
      authorize: async ({ type }) => {
        if (type === 'secret') throw new Error(SECRET)
        return true
      },
    })
    const good = await listener(running, 'open')
    const bad = await raw(running.url)
    bad.socket.send('[4,[0,1,"raw","spoke"],[2,"secret"],[1,"open","raw","after"]]')
    await waitFor(() => good.got.length === 1 && bad.errorFrames().length >= 1, { timeoutMs: 5_000 })
    expect(good.got).toEqual(['after'])
    expect(bad.errorFrames().every((frame) => frame[1] === 'ERR_UNAUTHORIZED')).toBe(true)
    for (const text of bad.texts) {
      expect(text).not.toContain(SECRET)
      expect(text).not.toMatch(/\bat .*:\d+:\d+/)
    }
  })

  it('a custom serializer that throws on a detail: ERR_SERIALIZE to the peer without the parser message', async () => {
    const { running } = await hubWith(cleanup, {
      serializer: {
        stringify: (value) => JSON.stringify(value),
        parse: () => {
          throw new SyntaxError(SECRET)
        },
      },
    })
    const bad = await raw(running.url)
    bad.socket.send('[0,1,"raw","spoke"]')
    bad.socket.send('[1,"t","raw","{}"]')
    await waitFor(() => bad.errorFrames().length === 1, { timeoutMs: 5_000 })
    expect(bad.errorFrames()[0]![1]).toBe('ERR_SERIALIZE')
    for (const text of bad.texts) expect(text).not.toContain(SECRET)
    expect(bad.closed()).toBeUndefined()
  })
})

describe('websocket hub: each limit refuses the offender and serves the others', () => {
  it('maxConnections: the connection over the limit gets ERR_LIMIT and 1013; the admitted spokes keep talking', async () => {
    const { running, errors } = await hubWith(cleanup, { maxConnections: 2 })
    const good = await listener(running, 'news')
    const publisher = client(running.url)
    cleanup.push(() => publisher.close())
    await publisher.ready
    const extra = await raw(running.url)
    await waitFor(() => extra.closed() !== undefined, { timeoutMs: 5_000 })
    expect(extra.closed()).toEqual({ code: 1013 })
    expect(extra.errorFrames().map((frame) => frame[1])).toEqual(['ERR_LIMIT'])
    expect(errors.map((error) => error.code)).toContain('ERR_LIMIT')
    publisher.dispatchEvent(new CustomEvent('news', { detail: 'still served' }))
    await waitFor(() => good.got.length === 1, { timeoutMs: 5_000 })
    expect(running.hub.stats().connections).toBe(2)
  })

  it('maxSubscriptionsPerConnection: the extra sub gets ERR_LIMIT naming the type; the link and others are kept', async () => {
    const { running } = await hubWith(cleanup, { maxSubscriptionsPerConnection: 2 })
    const good = await listener(running, 'c')
    const bad = await raw(running.url)
    bad.socket.send('[4,[0,1,"raw","spoke"],[2,"a"],[2,"b"],[2,"c"],[6,1]]')
    await waitFor(() => bad.frames.some((frame) => frame[0] === 7), { timeoutMs: 5_000 })
    expect(bad.errorFrames()).toEqual([[5, 'ERR_LIMIT', 'more than 2 subscriptions', 'c']])
    running.hub.dispatchEvent(new CustomEvent('c', { detail: 'to the good spoke only' }))
    running.hub.dispatchEvent(new CustomEvent('a', { detail: 'to the raw client' }))
    await waitFor(() => good.got.length === 1 && bad.frames.some((frame) => frame[1] === 'a'), {
      timeoutMs: 5_000,
    })
    expect(bad.frames.filter((frame) => frame[0] === 1).map((frame) => frame[1])).toEqual(['a'])
    expect(bad.closed()).toBeUndefined()
  })

  it('maxPublishRatePerConnection: events over the rate are dropped and counted, one ERR_LIMIT; another publisher is untouched', async () => {
    const { running } = await hubWith(cleanup, { maxPublishRatePerConnection: 10 })
    const good = await listener(running, 'rate')
    const polite = client(running.url)
    cleanup.push(() => polite.close())
    await polite.ready
    const flood = await raw(running.url)
    const burst = Array.from({ length: 100 }, (_, n) => JSON.stringify([1, 'rate', 'flood', `f${n}`]))
    flood.socket.send(`[4,[0,1,"flood","spoke"],${burst.join(',')},[6,1]]`)
    await waitFor(() => flood.frames.some((frame) => frame[0] === 7), { timeoutMs: 5_000 })
    for (const n of [1, 2, 3]) polite.dispatchEvent(new CustomEvent('rate', { detail: `p${n}` }))
    await waitFor(() => good.got.filter((detail) => String(detail).startsWith('p')).length === 3, {
      timeoutMs: 5_000,
    })
    const fromFlood = good.got.filter((detail) => String(detail).startsWith('f'))
    // The bucket holds one second's worth: the first 10 pass, the other 90 are dropped.
    expect(fromFlood).toEqual(Array.from({ length: 10 }, (_, n) => `f${n}`))
    expect(flood.errorFrames().map((frame) => frame[1])).toEqual(['ERR_LIMIT'])
    expect(running.hub.stats().dropped).toBe(90)
    expect(flood.closed()).toBeUndefined()
  })

  it('handshakeTimeoutMs: a socket that never says hello is closed with 1008 and ERR_TIMEOUT; others are served', async () => {
    const { running } = await hubWith(cleanup, { handshakeTimeoutMs: 200 })
    const good = await listener(running, 'news')
    const silent = await raw(running.url)
    await waitFor(() => silent.closed() !== undefined, { timeoutMs: 5_000 })
    expect(silent.closed()).toEqual({ code: 1008 })
    expect(silent.errorFrames().map((frame) => frame[1])).toEqual(['ERR_TIMEOUT'])
    running.hub.dispatchEvent(new CustomEvent('news', { detail: 'served' }))
    await waitFor(() => good.got.length === 1, { timeoutMs: 5_000 })
  })

  it('idleTimeoutMs: a socket that goes silent after its hello is closed with 4000; a pinging spoke stays', async () => {
    const { running, errors } = await hubWith(cleanup, { idleTimeoutMs: 300 })
    const good = client(running.url, { heartbeatIntervalMs: 50 })
    cleanup.push(() => good.close())
    const got: unknown[] = []
    good.addEventListener('news', (event) => got.push(event.detail))
    await good.flush()
    const silent = await raw(running.url)
    silent.socket.send('[0,1,"silent","spoke"]')
    await waitFor(() => silent.closed() !== undefined, { timeoutMs: 5_000 })
    expect(silent.closed()).toEqual({ code: 4000 })
    expect(errors.map((error) => error.code)).toEqual(['ERR_TIMEOUT'])
    running.hub.dispatchEvent(new CustomEvent('news', { detail: 'served' }))
    await waitFor(() => got.length === 1, { timeoutMs: 5_000 })
  })

  it('maxTypeLength: a sub or event with a longer type is ERR_FRAME_MALFORMED; the link is kept', async () => {
    const { running } = await hubWith(cleanup, { maxTypeLength: 8 })
    const good = await listener(running, 'short')
    const bad = await raw(running.url)
    bad.socket.send('[0,1,"raw","spoke"]')
    bad.socket.send('[2,"far-too-long"]')
    bad.socket.send('[1,"far-too-long","raw",1]')
    bad.socket.send('[1,"short","raw","ok"]')
    await waitFor(() => good.got.length === 1 && bad.errorFrames().length === 2, { timeoutMs: 5_000 })
    expect(bad.errorFrames().map((frame) => frame[1])).toEqual(['ERR_FRAME_MALFORMED', 'ERR_FRAME_MALFORMED'])
    expect(running.hub.remoteTypes()).toEqual(['short'])
    expect(bad.closed()).toBeUndefined()
  })
})
