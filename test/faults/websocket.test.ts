import { afterEach, describe, expect, it } from 'vitest'
import type { EventwireError, EventwireStatus } from '../../src/index.js'
import { waitFor } from '../../src/testing/index.js'
import { runScript } from '../support/process.js'
import { freePort } from '../support/redis-server.js'
import { client, hubWith, type RunningHub, rawClient, refusedWith } from '../support/websocket.js'

const cleanup: Array<() => Promise<unknown> | unknown> = []
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step()
})

function spoke(running: RunningHub, options: Parameters<typeof client>[1] = {}) {
  const errors: EventwireError[] = []
  const statuses: EventwireStatus[] = []
  const target = client(running.url, {
    onError: (error) => errors.push(error),
    onStatus: (status) => statuses.push(status),
    ...options,
  })
  cleanup.push(() => target.close())
  return { target, errors, statuses }
}

const raw = (url: string, headers: Record<string, string> = {}) => rawClient(cleanup, url, headers)

describe('websocket hub: hostile input', () => {
  it('answers garbage, truncated JSON and wrong shapes with error frames, keeps the socket, serves others', async () => {
    const { running, errors } = await hubWith(cleanup)
    const good = spoke(running)
    const got: unknown[] = []
    good.target.addEventListener('news', (event) => got.push(event.detail))
    await good.target.flush()
    const bad = await raw(running.url)
    bad.socket.send('[0,1,"raw-client","spoke"]')
    for (const input of ['garbage', '[1,"news"', '{"kind":"event"}', '[1,"","x",1]', '[99]', '[4]'])
      bad.socket.send(input)
    bad.socket.send('[1,"news","raw-client","still accepted"]')
    await waitFor(() => got.length === 1, { timeoutMs: 5_000 })
    expect(got).toEqual(['still accepted'])
    const refusals = bad.frames.filter((m) => Array.isArray(m) && m[0] === 5)
    expect(refusals.map((m) => (m as unknown[])[1])).toEqual(Array(6).fill('ERR_FRAME_MALFORMED'))
    expect(bad.closed()).toBeUndefined()
    expect(errors.filter((e) => e.code === 'ERR_FRAME_MALFORMED')).toHaveLength(6)
    expect(running.hub.stats().dropped).toBe(6)
  })

  it('treats an event named like a control message as an ordinary event', async () => {
    const { running } = await hubWith(cleanup)
    const listener = spoke(running)
    const got: string[] = []
    for (const name of ['sub', 'ping', 'hello', '__proto__'])
      listener.target.addEventListener(name, (e) => got.push(e.type))
    await listener.target.flush()
    const bad = await raw(running.url)
    bad.socket.send('[0,1,"raw-client","spoke"]')
    for (const name of ['sub', 'ping', 'hello', '__proto__'])
      bad.socket.send(JSON.stringify([1, name, 'raw-client', null]))
    await waitFor(() => got.length === 4, { timeoutMs: 5_000 })
    expect(got.sort()).toEqual(['__proto__', 'hello', 'ping', 'sub'])
    expect(running.hub.remoteTypes().sort()).toEqual(['__proto__', 'hello', 'ping', 'sub'])
  })

  it('closes a socket that sends more than limits.maxFrameBytes with 1009 and keeps the others', async () => {
    const { running } = await hubWith(cleanup, { limits: { maxFrameBytes: 1024 } })
    const good = spoke(running)
    const got: unknown[] = []
    good.target.addEventListener('t', (event) => got.push(event.detail))
    await good.target.flush()
    const bad = await raw(running.url)
    bad.socket.send(`[1,"t","x","${'a'.repeat(4096)}"]`)
    await waitFor(() => bad.closed() !== undefined, { timeoutMs: 5_000 })
    expect(bad.closed()).toEqual({ code: 1009 })
    running.hub.dispatchEvent(new CustomEvent('t', { detail: 'after' }))
    await waitFor(() => got.length === 1, { timeoutMs: 5_000 })
    expect(got).toEqual(['after'])
  })

  it('closes a socket whose first frame is not a hello with 1002', async () => {
    const { running } = await hubWith(cleanup)
    const bad = await raw(running.url)
    bad.socket.send('[2,"t"]')
    await waitFor(() => bad.closed() !== undefined, { timeoutMs: 5_000 })
    expect(bad.closed()).toEqual({ code: 1002 })
    await waitFor(() => running.hub.stats().connections === 0, { timeoutMs: 5_000 })
  })
})

describe('websocket hub: admission and authorization', () => {
  it('refuses a client that authenticate rejects with close code 4401, and hands the principal on', async () => {
    const principals: unknown[] = []
    const { running } = await hubWith(cleanup, {
      authenticate: (request) => {
        const token = new URL(request.url).searchParams.get('token')
        return token === 'secret' ? { user: 'ada' } : false
      },
      onConnection: (connection) => principals.push(connection.principal),
    })
    expect(await refusedWith(`${running.url}?token=wrong`)).toBe(4401)
    expect(await refusedWith(running.url)).toBe(4401)
    const admitted = client(`${running.url}?token=secret`)
    cleanup.push(() => admitted.close())
    await admitted.ready
    expect(principals).toEqual([{ user: 'ada' }])
    expect(running.hub.stats().connections).toBe(1)
  })

  it('refuses a browser origin that is not allowed with close code 4403, and lets listed and origin-less clients in', async () => {
    const { running } = await hubWith(cleanup, { allowedOrigins: ['https://app.example'] })
    expect(await refusedWith(running.url, { origin: 'https://evil.example' })).toBe(4403)
    const listed = await raw(running.url, { origin: 'https://app.example' })
    const originless = await raw(running.url)
    expect([listed.closed(), originless.closed()]).toEqual([undefined, undefined])
  })

  it('refuses an unauthorized subscribe and publish with error frames and delivers nothing', async () => {
    const { running } = await hubWith(cleanup, {
      authenticate: (request) => new URL(request.url).searchParams.get('role') ?? 'guest',
      authorize: ({ principal, type, action }) =>
        principal === 'admin' || (!(type === 'admin' && action === 'subscribe') && type !== 'admin'),
    })
    const admin = client(`${running.url}?role=admin`)
    const guest = spoke({ ...running, url: `${running.url}?role=guest` })
    cleanup.push(() => admin.close())
    const adminGot: unknown[] = []
    const guestGot: unknown[] = []
    admin.addEventListener('admin', (event) => adminGot.push(event.detail))
    guest.target.addEventListener('admin', (event) => guestGot.push(event.detail))
    await Promise.all([admin.flush(), guest.target.flush()])
    guest.target.dispatchEvent(new CustomEvent('admin', { detail: 'forged' }))
    admin.dispatchEvent(new CustomEvent('admin', { detail: 'real' }))
    await waitFor(() => adminGot.length === 1 && guest.errors.length === 2, { timeoutMs: 5_000 })
    await Promise.all([admin.flush(), guest.target.flush()])
    // The guest's own listener got its own dispatch locally; nothing crossed the hub either way.
    expect(guestGot).toEqual(['forged'])
    expect(adminGot).toEqual(['real'])
    expect(guest.errors.map((error) => [error.code, error.eventType])).toEqual([
      ['ERR_UNAUTHORIZED', 'admin'],
      ['ERR_UNAUTHORIZED', 'admin'],
    ])
  })
})

describe('websocket: processes that die', () => {
  it('spokes reconnect to a hub process killed and restarted on the same port, resubscribe and receive', async () => {
    const port = await freePort()
    let hubProcess = await runScript('websocket-hub.ts', [String(port)])
    cleanup.push(() => hubProcess.kill())
    const url = `ws://127.0.0.1:${port}/ws`
    const statuses: EventwireStatus[] = []
    const a = client(url)
    const b = client(url, { onStatus: (status) => statuses.push(status) })
    cleanup.push(
      () => a.close(),
      () => b.close(),
    )
    const got: number[] = []
    b.addEventListener('tick', (event) => got.push(event.detail as number))
    await Promise.all([a.ready, b.flush()])
    a.dispatchEvent(new CustomEvent('tick', { detail: 0 }))
    await waitFor(() => got.length === 1, { timeoutMs: 5_000 })

    await hubProcess.kill()
    await waitFor(() => statuses.some((status) => status.type === 'disconnected'), { timeoutMs: 5_000 })
    hubProcess = await runScript('websocket-hub.ts', [String(port)])
    await waitFor(() => statuses.some((status) => status.type === 'gap'), { timeoutMs: 10_000 })
    await Promise.all([a.flush(), b.flush()])
    for (const n of [1, 2, 3]) a.dispatchEvent(new CustomEvent('tick', { detail: n }))
    await waitFor(() => got.length === 4, { timeoutMs: 5_000 })
    expect(got).toEqual([0, 1, 2, 3])
    expect(b.stats().reconnects).toBe(1)
  })

  it('drops a spoke whose process is killed, counts it, and keeps serving the others', async () => {
    const disconnections: unknown[] = []
    const { running } = await hubWith(cleanup, {
      onDisconnection: (_connection, info) => disconnections.push(info),
    })
    const doomed = await runScript('websocket-spoke.ts', [running.url, 'news'])
    cleanup.push(() => doomed.kill())
    const survivor = spoke(running)
    const got: unknown[] = []
    survivor.target.addEventListener('news', (event) => got.push(event.detail))
    await survivor.target.flush()
    expect(running.hub.stats().connections).toBe(2)
    await doomed.kill()
    await waitFor(() => running.hub.stats().connections === 1, { timeoutMs: 5_000 })
    expect(disconnections).toHaveLength(1)
    for (const n of [1, 2]) running.hub.dispatchEvent(new CustomEvent('news', { detail: n }))
    await waitFor(() => got.length === 2, { timeoutMs: 5_000 })
    expect(got).toEqual([1, 2])
    expect(running.hub.remoteTypes()).toEqual(['news'])
  })
})

describe('websocket: a stalled reader', () => {
  it('keeps the hub memory bounded and the other spokes receiving everything, in order', async () => {
    const { running } = await hubWith(cleanup, { maxBufferedBytes: 256 * 1024, overflow: 'drop-oldest' })
    const fast = spoke(running)
    let received = 0
    let inOrder = true
    fast.target.addEventListener('bulk', (event) => {
      if ((event.detail as { n: number }).n !== received) inOrder = false
      received++
    })
    await fast.target.flush()
    // A client that subscribes, then stops reading its socket: the kernel buffers fill, then the hub's.
    const stalled = await raw(running.url)
    stalled.socket.send('[4,[0,1,"stalled","spoke"],[2,"bulk"]]')
    await waitFor(() => running.hub.remoteTypes().includes('bulk') && running.hub.stats().connections === 2, {
      timeoutMs: 5_000,
    })
    ;(stalled.socket as unknown as { _socket: { pause(): void } })._socket.pause()

    const collect = (globalThis as { gc?: () => void }).gc
    if (collect === undefined) throw new Error('run with --expose-gc (vitest.config.ts passes it)')
    collect()
    const heapBefore = process.memoryUsage().heapUsed
    const pad = 'x'.repeat(1_000)
    const total = 20_000 // about 20 MB toward each spoke
    for (let n = 0; n < total; n++) {
      running.hub.dispatchEvent(new CustomEvent('bulk', { detail: { n, pad } }))
      if (n % 500 === 499) await new Promise((resolve) => setImmediate(resolve))
    }
    await waitFor(() => received === total, { timeoutMs: 30_000 })
    collect()
    const heapGrowth = process.memoryUsage().heapUsed - heapBefore
    expect(inOrder).toBe(true)
    expect(running.hub.stats().dropped).toBeGreaterThan(total / 2)
    // 20 MB went to the stalled spoke; what the hub keeps for it is bounded by maxBufferedBytes and the
    // platform high-water mark (about 0.4 MB here), far below what an unbounded queue would hold.
    expect(heapGrowth).toBeLessThan(8 * 1024 * 1024)
  })
})
