import { deflateRawSync } from 'node:zlib'
import { type Endpoint, EndpointAddr, EndpointTicket } from '@number0/iroh'
import { afterEach, describe, expect, it } from 'vitest'
import {
  createIrohHubEventTarget,
  type HubConnectionInfo,
  IROH_ALPN,
  type IrohHubEventTarget,
  type IrohHubEventTargetOptions,
} from '../../src/event-target-iroh-hub/index.js'
import {
  createIrohSpokeEventTarget,
  type IrohSpokeEventTarget,
  type IrohSpokeEventTargetOptions,
} from '../../src/event-target-iroh-spoke/index.js'
import type { EventwireError, EventwireStatus } from '../../src/index.js'
import { waitFor } from '../../src/testing/index.js'
import { encodeLengthPrefixed } from '../../src/transport/index.js'
import {
  alpnBytes,
  bindHubEndpoint,
  bindLoopbackEndpoint,
  loopbackAddr,
  loopbackPort,
  newSecretKey,
  openRawStream,
  rebindHubEndpoint,
} from '../support/iroh.js'

const cleanup: Array<() => Promise<unknown> | unknown> = []
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step()
})

const HELLO = '[0,1,"raw-client","spoke"]'

async function startHub(options: Partial<IrohHubEventTargetOptions> = {}, endpoint?: Endpoint) {
  const hubEndpoint = endpoint ?? (await bindHubEndpoint())
  const errors: EventwireError[] = []
  const connections: HubConnectionInfo[] = []
  const disconnections: Array<{ principal: unknown; code: number | undefined }> = []
  const hub: IrohHubEventTarget = createIrohHubEventTarget({
    endpoint: hubEndpoint,
    onError: (error) => errors.push(error),
    onConnection: (connection) => connections.push(connection),
    onDisconnection: (connection, info) =>
      disconnections.push({ principal: connection.principal, code: info.code }),
    ...options,
  })
  cleanup.push(() => hubEndpoint.close())
  cleanup.push(() => hub.close())
  return { hub, endpoint: hubEndpoint, errors, connections, disconnections }
}

async function startSpoke(
  hubEndpoint: Endpoint | EndpointAddr,
  options: Partial<IrohSpokeEventTargetOptions> = {},
  endpoint?: Endpoint,
) {
  const spokeEndpoint = endpoint ?? (await bindLoopbackEndpoint())
  const errors: EventwireError[] = []
  const statuses: EventwireStatus[] = []
  const target: IrohSpokeEventTarget = createIrohSpokeEventTarget({
    endpoint: spokeEndpoint,
    hub: hubEndpoint instanceof EndpointAddr ? hubEndpoint : loopbackAddr(hubEndpoint),
    reconnect: { initialDelayMs: 20, maxDelayMs: 200 },
    connectTimeoutMs: 1_000,
    onError: (error) => errors.push(error),
    onStatus: (status) => statuses.push(status),
    ...options,
  })
  cleanup.push(() => spokeEndpoint.close())
  cleanup.push(() => target.close())
  return { target, endpoint: spokeEndpoint, errors, statuses, id: spokeEndpoint.id().toString() }
}

/** A spoke that records every detail of `type`, with its interest known to the hub. */
async function listening(spoke: Awaited<ReturnType<typeof startSpoke>>, type: string) {
  const got: unknown[] = []
  spoke.target.addEventListener(type, (event) => got.push(event.detail))
  await spoke.target.ready
  await spoke.target.flush()
  return got
}

async function rawClient(hubEndpoint: Endpoint) {
  const raw = await openRawStream(hubEndpoint)
  cleanup.push(() => raw.close())
  return raw
}

describe('iroh: a spoke or the hub goes away', () => {
  it('drops a spoke whose endpoint is closed abruptly, counts it, and keeps serving the others', async () => {
    const { hub, endpoint, disconnections } = await startHub()
    const spokes = await Promise.all([startSpoke(endpoint), startSpoke(endpoint), startSpoke(endpoint)])
    const got = await Promise.all(spokes.map((spoke) => listening(spoke, 'news')))
    expect(hub.stats().connections).toBe(3)

    await spokes[0]!.endpoint.close()
    await waitFor(() => hub.stats().connections === 2, { timeoutMs: 5_000 })
    expect(disconnections).toEqual([{ principal: spokes[0]!.id, code: 1001 }])
    expect(hub.remoteTypes()).toEqual(['news'])

    for (const n of [1, 2, 3]) hub.dispatchEvent(new CustomEvent('news', { detail: n }))
    await waitFor(() => got[1]!.length === 3 && got[2]!.length === 3, { timeoutMs: 5_000 })
    expect(got).toEqual([[], [1, 2, 3], [1, 2, 3]])
    expect(hub.stats()).toMatchObject({ connections: 2, dropped: 0 })
  })

  it('reconnects every spoke to a hub restarted on the same key and port, reports a gap, delivers again', async () => {
    const secretKey = newSecretKey()
    // The first hub lives in this scope alone: once it is gone, nothing may hold its endpoint.
    let first: Awaited<ReturnType<typeof startDisposableHub>> | undefined =
      await startDisposableHub(secretKey)
    const { addr, port } = first
    const spokes = await Promise.all([startSpoke(addr), startSpoke(addr)])
    const got = await Promise.all(spokes.map((spoke) => listening(spoke, 'tick')))
    first.hub.dispatchEvent(new CustomEvent('tick', { detail: 'before' }))
    await waitFor(() => got.every((list) => list.length === 1), { timeoutMs: 5_000 })

    await first.stop()
    first = undefined
    await waitFor(() => spokes.every((spoke) => spoke.statuses.some((s) => s.type === 'reconnecting')), {
      timeoutMs: 5_000,
    })
    const second = await rebindHubEndpoint({ secretKey, port })
    expect(second.id().toString()).toBe(addr.id().toString())
    const restarted = await startHub({}, second)
    await waitFor(() => spokes.every((spoke) => spoke.statuses.some((s) => s.type === 'gap')), {
      timeoutMs: 15_000,
    })
    await Promise.all(spokes.map((spoke) => spoke.target.flush()))
    expect(restarted.hub.remoteTypes()).toEqual(['tick'])
    for (const n of [1, 2, 3]) restarted.hub.dispatchEvent(new CustomEvent('tick', { detail: n }))
    await waitFor(() => got.every((list) => list.length === 4), { timeoutMs: 5_000 })
    expect(got).toEqual([
      ['before', 1, 2, 3],
      ['before', 1, 2, 3],
    ])
    for (const spoke of spokes) {
      const types = spoke.statuses.map((status) => status.type)
      expect(types.indexOf('disconnected')).toBeLessThan(types.indexOf('gap'))
      expect(spoke.target.stats().reconnects).toBe(1)
    }
  })
})

/** A hub whose endpoint is closed by `stop()` and then forgotten, so its port can be bound again. */
async function startDisposableHub(secretKey: ReturnType<typeof newSecretKey>) {
  const endpoint = await bindHubEndpoint({ secretKey })
  const hub = createIrohHubEventTarget({ endpoint })
  return {
    hub,
    addr: loopbackAddr(endpoint),
    port: loopbackPort(endpoint),
    stop: async () => {
      await endpoint.close()
      await hub.close()
    },
  }
}

describe('iroh: hostile input on a raw stream', () => {
  it('closes a stream whose length prefix exceeds maxFrameBytes with 1009, and serves the others', async () => {
    const { hub, endpoint, errors } = await startHub({ limits: { maxFrameBytes: 64 * 1024 } })
    const good = await startSpoke(endpoint)
    const got = await listening(good, 'news')
    const raw = await rawClient(endpoint)
    await raw.writeFrame(HELLO)
    await waitFor(() => raw.frames.length === 1, { timeoutMs: 5_000 })
    // 2 GiB claimed: refused on the header alone, nothing allocated for it.
    await raw.writeRaw([0x7f, 0xff, 0xff, 0xff, 1, 2, 3])
    await waitFor(() => raw.closedReason() !== undefined, { timeoutMs: 5_000 })
    expect(raw.closedReason()).toBe('closed by peer: ERR_FRAME_TOO_LARGE (code 1009)')
    expect(raw.frames).toEqual([
      [0, 1, hub.nodeId, 'hub', ['run']],
      [5, 'ERR_FRAME_TOO_LARGE', 'frame of 2147483647 bytes exceeds maxFrameBytes (65536)', null],
    ])
    expect(errors.map((error) => error.code)).toEqual(['ERR_FRAME_TOO_LARGE'])
    hub.dispatchEvent(new CustomEvent('news', { detail: 'after' }))
    await waitFor(() => got.length === 1, { timeoutMs: 5_000 })
    expect(got).toEqual(['after'])
    expect(hub.stats()).toMatchObject({ connections: 1, dropped: 1 })
  })

  it('closes a stream whose compressed frame inflates past maxFrameBytes (a deflate bomb) with 1009', async () => {
    const { hub, endpoint, errors } = await startHub({ limits: { maxFrameBytes: 64 * 1024 } })
    const raw = await rawClient(endpoint)
    await raw.writeFrame(HELLO)
    const bomb = deflateRawSync(new Uint8Array(8 * 1024 * 1024))
    expect(bomb.length).toBeLessThan(64 * 1024)
    await raw.writeRaw(encodeLengthPrefixed(bomb, true))
    await waitFor(() => raw.closedReason() !== undefined, { timeoutMs: 5_000 })
    expect(raw.closedReason()).toBe('closed by peer: ERR_FRAME_TOO_LARGE (code 1009)')
    expect(errors.map((error) => error.message)).toEqual([
      'a compressed frame inflates past maxFrameBytes (65536)',
    ])
    expect(hub.stats().connections).toBe(0)
  })

  it('closes a stream that ends inside a frame with 1002, after processing the frames before it', async () => {
    const { hub, endpoint, errors } = await startHub()
    const good = await startSpoke(endpoint)
    const got = await listening(good, 'news')
    const raw = await rawClient(endpoint)
    const event = encodeLengthPrefixed(new TextEncoder().encode('[1,"news","raw-client","whole"]'))
    await raw.writeFrame(HELLO)
    await raw.writeRaw([...event, ...event.subarray(0, 10)])
    await raw.finish()
    await waitFor(() => raw.closedReason() !== undefined, { timeoutMs: 5_000 })
    expect(raw.closedReason()).toBe('closed by peer: ERR_FRAME_MALFORMED (code 1002)')
    expect(errors.map((error) => [error.code, error.message])).toEqual([
      ['ERR_FRAME_MALFORMED', 'the stream ended inside a frame (6 of 31 payload bytes)'],
    ])
    await waitFor(() => got.length === 1, { timeoutMs: 5_000 })
    hub.dispatchEvent(new CustomEvent('news', { detail: 'after' }))
    await waitFor(() => got.length === 2, { timeoutMs: 5_000 })
    expect(got).toEqual(['whole', 'after'])
  })

  it('answers garbage JSON and invalid UTF-8 in whole frames with error frames, as the WebSocket hub does', async () => {
    const { hub, endpoint, errors } = await startHub()
    const good = await startSpoke(endpoint)
    const got = await listening(good, 'news')
    const raw = await rawClient(endpoint)
    await raw.writeFrame(HELLO)
    for (const input of ['garbage', '[1,"news"', '{"kind":"event"}', '[99]']) await raw.writeFrame(input)
    await raw.writeRaw(encodeLengthPrefixed(new Uint8Array([0xff, 0xfe, 0x5b])))
    await raw.writeFrame('[1,"news","raw-client","still accepted"]')
    await waitFor(() => got.length === 1, { timeoutMs: 5_000 })
    expect(got).toEqual(['still accepted'])
    await waitFor(() => raw.frames.length === 6, { timeoutMs: 5_000 })
    expect(raw.frames.slice(1).map((frame) => (frame as unknown[]).slice(0, 2))).toEqual(
      Array(5).fill([5, 'ERR_FRAME_MALFORMED']),
    )
    expect(errors.map((error) => error.code)).toEqual(Array(5).fill('ERR_FRAME_MALFORMED'))
    expect(raw.closedReason()).toBeUndefined()
    expect(hub.stats()).toMatchObject({ connections: 2, dropped: 5 })
  })

  it('closes a stream whose first frame is not a hello with 1002', async () => {
    const { hub, endpoint } = await startHub()
    const raw = await rawClient(endpoint)
    await raw.writeFrame('[2,"news"]')
    await waitFor(() => raw.closedReason() !== undefined, { timeoutMs: 5_000 })
    expect(raw.closedReason()).toBe('closed by peer: ERR_FRAME_MALFORMED (code 1002)')
    await waitFor(() => hub.stats().connections === 0, { timeoutMs: 5_000 })
  })
})

describe('iroh: limits and backpressure', () => {
  it('a spoke refuses a hub frame above its own maxFrameBytes, reconnects, reports a gap, and delivers again', async () => {
    const { hub, endpoint } = await startHub()
    const small = await startSpoke(endpoint, { limits: { maxFrameBytes: 1024 } })
    const got = await listening(small, 'big')
    hub.dispatchEvent(new CustomEvent('big', { detail: 'x'.repeat(4096) }))
    await waitFor(() => small.statuses.some((status) => status.type === 'gap'), { timeoutMs: 5_000 })
    expect(small.errors.map((error) => [error.code, error.message])).toEqual([
      ['ERR_FRAME_TOO_LARGE', 'a compressed frame inflates past maxFrameBytes (1024)'],
    ])
    expect(small.target.stats().dropped).toBe(1)
    await small.target.flush()
    hub.dispatchEvent(new CustomEvent('big', { detail: 'small enough' }))
    await waitFor(() => got.length === 1, { timeoutMs: 5_000 })
    expect(got).toEqual(['small enough'])
  })

  it('refuses to send an event above maxFrameBytes, reports it, and keeps the link', async () => {
    const { endpoint } = await startHub()
    const sender = await startSpoke(endpoint, { limits: { maxFrameBytes: 1024 } })
    const receiver = await startSpoke(endpoint)
    const got = await listening(receiver, 'big')
    await sender.target.ready
    sender.target.dispatchEvent(new CustomEvent('big', { detail: 'x'.repeat(2048) }))
    sender.target.dispatchEvent(new CustomEvent('big', { detail: 'fits' }))
    await waitFor(() => got.length === 1, { timeoutMs: 5_000 })
    await sender.target.flush()
    expect(got).toEqual(['fits'])
    expect(sender.errors.map((error) => [error.code, (error.cause as EventwireError).code])).toEqual([
      ['ERR_SERIALIZE', 'ERR_FRAME_TOO_LARGE'],
    ])
    expect(sender.target.stats()).toMatchObject({ dropped: 1, reconnects: 0 })
  })

  it('closes a spoke that stops reading with 1013 once maxBufferedBytes wait for it (overflow close)', async () => {
    const { hub, endpoint, errors } = await startHub({
      maxBufferedBytes: 256 * 1024,
      overflow: 'close',
      compress: false,
    })
    const good = await startSpoke(endpoint)
    const got = await listening(good, 'news')
    const stalled = await rawClient(endpoint)
    await stalled.writeFrame(HELLO)
    await stalled.writeFrame('[2,"flood"]')
    await stalled.writeFrame('[6,1]')
    await waitFor(() => stalled.frames.length === 2, { timeoutMs: 5_000 })
    // The raw client reads on, but only up to what it already buffered: stop it for real.
    stalled.pause()
    const detail = 'f'.repeat(1024)
    for (let round = 0; round < 200 && !errors.some((e) => e.code === 'ERR_OVERFLOW'); round++) {
      for (let i = 0; i < 100; i++) hub.dispatchEvent(new CustomEvent('flood', { detail }))
      await new Promise((resolve) => setImmediate(resolve))
    }
    expect(errors.map((error) => error.code)).toEqual(['ERR_OVERFLOW'])
    await waitFor(() => hub.stats().connections === 1, { timeoutMs: 5_000 })
    hub.dispatchEvent(new CustomEvent('news', { detail: 'unaffected' }))
    await waitFor(() => got.length === 1, { timeoutMs: 5_000 })
    expect(got).toEqual(['unaffected'])
    await waitFor(() => stalled.closedReason() !== undefined, { timeoutMs: 10_000 })
    expect(stalled.closedReason()).toBe('closed by peer: overflow (code 1013)')
  })
})

describe('iroh: admission and authorization by endpoint id', () => {
  it('refuses a subscribe and a publish that authorize denies for an endpoint id, and delivers nothing', async () => {
    let adminId = ''
    const { hub, endpoint, connections } = await startHub({
      authorize: ({ principal, type }) => type !== 'admin' || principal === adminId,
    })
    const adminEndpoint = await bindLoopbackEndpoint()
    adminId = adminEndpoint.id().toString()
    const admin = await startSpoke(endpoint, {}, adminEndpoint)
    const guest = await startSpoke(endpoint)
    const adminGot = await listening(admin, 'admin')
    const guestGot = await listening(guest, 'admin')
    expect(connections.map((connection) => connection.principal).sort()).toEqual([admin.id, guest.id].sort())

    guest.target.dispatchEvent(new CustomEvent('admin', { detail: 'forged' }))
    hub.dispatchEvent(new CustomEvent('admin', { detail: 'real' }))
    await waitFor(() => adminGot.length === 1 && guest.errors.length === 2, { timeoutMs: 5_000 })
    await Promise.all([admin.target.flush(), guest.target.flush()])
    expect(adminGot).toEqual(['real'])
    // The guest's own listener got its own dispatch locally; nothing crossed the hub either way.
    expect(guestGot).toEqual(['forged'])
    expect(guest.errors.map((error) => [error.code, error.eventType])).toEqual([
      ['ERR_UNAUTHORIZED', 'admin'],
      ['ERR_UNAUTHORIZED', 'admin'],
    ])
    expect(hub.remoteTypes()).toEqual(['admin'])
  })

  it('closes connections from an endpoint id that authenticate refuses with 1008', async () => {
    const banned = await bindLoopbackEndpoint()
    const bannedId = banned.id().toString()
    const seen: string[] = []
    const { hub, endpoint } = await startHub({
      authenticate: (endpointId) => {
        seen.push(endpointId)
        return endpointId !== bannedId
      },
    })
    const refused = await startSpoke(endpoint, {}, banned)
    const admitted = await startSpoke(endpoint)
    await admitted.target.ready
    await waitFor(() => seen.filter((id) => id === bannedId).length >= 2, { timeoutMs: 5_000 })
    // The refused spoke learns why: as the loss of its link, or, when the close overtakes its dial (a
    // loaded machine), as the failure it reports for that attempt.
    const sawRefusal = () =>
      refused.statuses.some(
        (status) =>
          status.type === 'disconnected' &&
          (status as { error?: Error }).error?.message === 'link closed (1008)',
      ) || refused.errors.some((error) => /\b1008\b/.test(`${error.message} ${String(error.cause)}`))
    await waitFor(sawRefusal, { timeoutMs: 5_000, message: 'the refused spoke saw 1008' })
    expect(refused.statuses.some((status) => status.type === 'connected')).toBe(false)
    expect(hub.stats().connections).toBe(1)
  })
})

describe('iroh: authenticate, as on every hub', () => {
  it('admits with the principal authenticate returns, which authorize and onConnection see; true admits with the endpoint id', async () => {
    const members = new Map<string, { name: string }>()
    const asked: unknown[] = []
    const { endpoint, connections } = await startHub({
      authenticate: (endpointId) => members.get(endpointId) ?? true,
      authorize: ({ principal, type }) => {
        asked.push({ principal, type })
        return true
      },
    } as Partial<IrohHubEventTargetOptions>)
    const ada = await bindLoopbackEndpoint()
    members.set(ada.id().toString(), { name: 'ada' })
    const member = await startSpoke(endpoint, {}, ada)
    const guest = await startSpoke(endpoint)
    await Promise.all([member.target.ready, guest.target.ready])
    member.target.addEventListener('news', () => {})
    guest.target.addEventListener('news', () => {})
    await Promise.all([member.target.flush(), guest.target.flush()])
    await waitFor(() => connections.length === 2, { timeoutMs: 5_000 })
    expect(connections.map((connection) => connection.principal)).toEqual(
      expect.arrayContaining([{ name: 'ada' }, guest.id]),
    )
    expect(asked).toEqual(
      expect.arrayContaining([
        { principal: { name: 'ada' }, type: 'news' },
        { principal: guest.id, type: 'news' },
      ]),
    )
  })
})

describe('iroh: endpoints shared with other protocols, and closing', () => {
  it("serves connections handed over by the app's own accept loop, which keeps other ALPNs for itself", async () => {
    const endpoint = await bindLoopbackEndpoint({ alpns: [IROH_ALPN, 'other/1'] })
    const { hub } = await startHub({ endpoint: undefined }, endpoint)
    const others: string[] = []
    void (async () => {
      for (;;) {
        const incoming = await endpoint.acceptNext()
        if (incoming === null) return
        const connection = await (await incoming.accept()).connect()
        const alpn = new TextDecoder().decode(new Uint8Array(connection.alpn()))
        if (alpn === IROH_ALPN) hub.add(connection)
        else others.push(connection.remoteId().toString())
      }
    })()
    const spoke = await startSpoke(endpoint)
    const got = await listening(spoke, 'news')
    const stranger = await bindLoopbackEndpoint()
    cleanup.push(() => stranger.close())
    await stranger.connect(loopbackAddr(endpoint), alpnBytes('other/1'))
    await waitFor(() => others.length === 1, { timeoutMs: 5_000 })
    expect(others).toEqual([stranger.id().toString()])
    hub.dispatchEvent(new CustomEvent('news', { detail: 'handed over' }))
    await waitFor(() => got.length === 1, { timeoutMs: 5_000 })
    expect(got).toEqual(['handed over'])
    expect(hub.stats().connections).toBe(1)
  })

  it('closes a connection for another ALPN that reaches its own accept loop, and reports it', async () => {
    const endpoint = await bindLoopbackEndpoint({ alpns: [IROH_ALPN, 'other/1'] })
    const { hub, errors } = await startHub({}, endpoint)
    const stranger = await bindLoopbackEndpoint()
    cleanup.push(() => stranger.close())
    const connection = await stranger.connect(loopbackAddr(endpoint), alpnBytes('other/1'))
    expect(await connection.closed()).toBe('closed by peer: unsupported protocol (code 1002)')
    expect(errors.map((error) => [error.code, error.message])).toEqual([
      ['ERR_CONNECTION', 'a connection for "other/1", not "eventwire/1"'],
    ])
    expect(hub.stats().connections).toBe(0)
  })

  it('close() on a spoke resolves once the hub has its last events and the connection is closed', async () => {
    const { hub, endpoint, disconnections } = await startHub()
    const got: unknown[] = []
    hub.addEventListener('last', (event) => got.push(event.detail))
    const spoke = await startSpoke(endpoint)
    await spoke.target.ready
    for (const n of [1, 2, 3]) spoke.target.dispatchEvent(new CustomEvent('last', { detail: n }))
    await spoke.target.close()
    await waitFor(() => disconnections.length === 1, { timeoutMs: 5_000 })
    expect(got).toEqual([1, 2, 3])
    expect(disconnections).toEqual([{ principal: spoke.id, code: 1000 }])
  })
})

describe('iroh: the hub to dial', () => {
  it('dials a hub given as an endpoint ticket string', async () => {
    const { hub, endpoint } = await startHub()
    const ticket = EndpointTicket.fromAddr(loopbackAddr(endpoint)).toString()
    const spoke = await startSpoke(endpoint, { hub: ticket })
    const got = await listening(spoke, 'news')
    hub.dispatchEvent(new CustomEvent('news', { detail: 'by ticket' }))
    await waitFor(() => got.length === 1, { timeoutMs: 5_000 })
    expect(got).toEqual(['by ticket'])
  })

  it('takes an endpoint id string, and refuses a string that is neither an id nor a ticket', async () => {
    const endpoint = await bindLoopbackEndpoint()
    cleanup.push(() => endpoint.close())
    const byId = createIrohSpokeEventTarget({ endpoint, hub: endpoint.id().toString(), reconnect: false })
    cleanup.push(() => byId.close())
    expect(() => createIrohSpokeEventTarget({ endpoint, hub: 'not-an-endpoint' })).toThrow(
      expect.objectContaining({ code: 'ERR_INVALID_OPTION' }) as unknown as Error,
    )
  })
})
