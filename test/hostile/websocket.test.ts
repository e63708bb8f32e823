import { createServer } from 'node:http'
import { type AddressInfo, connect, type Socket } from 'node:net'
import { type ServerType, serve, upgradeWebSocket } from '@hono/node-server'
import fc from 'fast-check'
import { Hono } from 'hono'
import { afterEach, describe, expect, it } from 'vitest'
import { WebSocket, WebSocketServer } from 'ws'
import { createWebSocketServerEventTarget } from '../../src/event-target-websocket-server/index.js'
import type { EventwireError, EventwireStatus } from '../../src/index.js'
import { waitFor } from '../../src/testing/index.js'
import { heapUsed, nextTask, numberedStream } from '../support/hostile.js'
import { client, hubWith, type RunningHub, rawClient } from '../support/websocket.js'

// A WebSocket hub facing hostile peers, over real sockets on 127.0.0.1. Each attack runs while a
// well-behaved control spoke receives a numbered stream: it must get every event, in order. Bounds are
// measured (heap after a full collection, time to close, onError calls), never assumed.

const cleanup: Array<() => Promise<unknown> | unknown> = []
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step()
})

const HELLO = '[0,1,"raw","spoke"]'

/** A real spoke that records a numbered stream on `type` and whether it came in order. */
async function controlSpoke(running: RunningHub, type = 'tick') {
  const target = client(running.url)
  cleanup.push(() => target.close())
  const got: number[] = []
  target.addEventListener(type, (event) => got.push((event.detail as { n: number }).n))
  await target.ready
  await target.flush()
  await waitFor(() => running.hub.remoteTypes().includes(type), { timeoutMs: 5_000 })
  return {
    got,
    /** Dispatches `count` numbered events from the hub and waits until the control spoke has them all. */
    stream: numberedStream(running.hub, type, got),
  }
}

/** A raw client whose TCP socket no longer reads: everything the hub sends it piles up. */
async function nonReader(url: string) {
  const peer = await rawClient(cleanup, url)
  const pause = () => (peer.socket as unknown as { _socket: Socket })._socket.pause()
  return { ...peer, pause }
}

/** Sends `text` over a fresh TCP connection and resolves with the status line the server answers. */
function rawRequest(port: number, text: string): Promise<{ status: number; closed: boolean }> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1')
    let answer = ''
    const timer = setTimeout(() => {
      socket.destroy()
      reject(new Error(`no answer to ${JSON.stringify(text.slice(0, 60))}`))
    }, 3_000)
    socket.setEncoding('latin1')
    socket.on('data', (chunk) => {
      answer += chunk
      // An accepted upgrade is an answer too; this client does not speak WebSocket.
      if (answer.startsWith('HTTP/1.1 101 ')) socket.destroy()
    })
    socket.on('error', () => {})
    socket.on('close', () => {
      clearTimeout(timer)
      resolve({ status: Number(/^HTTP\/1\.1 (\d{3})/.exec(answer)?.[1] ?? 0), closed: true })
    })
    socket.write(text)
  })
}

function upgradeRequest(target: string, host: string, extra = ''): string {
  return (
    `GET ${target} HTTP/1.1\r\nHost: ${host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
    `Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n${extra}\r\n`
  )
}

describe('websocket hub: malformed upgrades', () => {
  it('answers a Host or request target that is no URL with 400 and closes the socket; the process and its spokes carry on', async () => {
    const { running } = await hubWith(cleanup)
    const control = await controlSpoke(running)
    for (const request of [
      upgradeRequest('/ws', '%'),
      upgradeRequest('/ws', 'a b'),
      upgradeRequest('http://[x/anything', `127.0.0.1:${running.port}`),
      upgradeRequest('http://[x/ws', `127.0.0.1:${running.port}`),
    ]) {
      expect(await rawRequest(running.port, request)).toEqual({ status: 400, closed: true })
    }
    await control.stream(100)
  })

  it('answers an upgrade on a path no hub serves with 404 when no other upgrade listener takes it', async () => {
    const { running } = await hubWith(cleanup)
    const answers = await Promise.all(
      Array.from({ length: 200 }, (_, i) =>
        rawRequest(running.port, upgradeRequest(`/other/${i}`, `127.0.0.1:${running.port}`)),
      ),
    )
    expect(answers.every((answer) => answer.status === 404 && answer.closed)).toBe(true)
  })

  it('leaves other paths, readable or not, to another upgrade listener on the same server', async () => {
    const hub = createWebSocketServerEventTarget()
    const server = createServer()
    const attachment = hub.attach(server, { path: '/ws' })
    const theirs: string[] = []
    server.on('upgrade', (request, socket) => {
      if (request.url === '/ws') return
      theirs.push(request.url ?? '')
      socket.end('HTTP/1.1 418 Teapot\r\nContent-Length: 0\r\n\r\n')
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    cleanup.push(async () => {
      attachment.close()
      await hub.close()
      server.closeAllConnections()
      await new Promise((resolve) => server.close(resolve))
    })
    const { port } = server.address() as AddressInfo
    expect(await rawRequest(port, upgradeRequest('/mine', `127.0.0.1:${port}`))).toEqual({
      status: 418,
      closed: true,
    })
    expect(await rawRequest(port, upgradeRequest('http://[x/mine', `127.0.0.1:${port}`))).toEqual({
      status: 418,
      closed: true,
    })
    expect(theirs).toEqual(['/mine', 'http://[x/mine'])
  })

  it('survives fuzzed request targets, Host and other headers: every request is answered, nothing throws', async () => {
    const { running } = await hubWith(cleanup, { authenticate: (request) => request.url.length > 0 })
    const control = await controlSpoke(running)
    const text = fc.string({ unit: 'binary-ascii', maxLength: 40 }).map((s) => s.replace(/[\r\n]/g, ''))
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(text, fc.constantFrom('/ws', '/ws?x=%', 'http://[x/ws', '//ws', '*', 'ws', '/ws#a')),
        fc.oneof(text, fc.constantFrom('%', 'a b', '[', '127.0.0.1:1', '')),
        fc.array(fc.tuple(fc.stringMatching(/^[A-Za-z-]{1,12}$/), text), { maxLength: 3 }),
        async (target, host, headers) => {
          const extra = headers.map(([name, value]) => `X-${name}: ${value}\r\n`).join('')
          const answer = await rawRequest(running.port, upgradeRequest(target || '/', host, extra))
          // An HTTP answer (101, closed here at once, or a refusal) or the HTTP parser's own 400.
          expect(answer.closed).toBe(true)
          expect([101, 400, 401, 404, 0]).toContain(answer.status)
        },
      ),
      { numRuns: Number(process.env.FUZZ_RUNS ?? 150) / 3 },
    )
    await control.stream(50)
  })
})

describe('websocket hub: peers that never read', () => {
  it('closes a peer that floods pings and never reads, with bounded heap, and the control spoke keeps receiving', async () => {
    const { running, errors } = await hubWith(cleanup, { maxBufferedBytes: 512 * 1024 })
    const control = await controlSpoke(running)
    const attacker = await nonReader(running.url)
    attacker.socket.send(HELLO)
    await waitFor(() => running.hub.stats().connections === 2, { timeoutMs: 5_000 })
    attacker.pause()
    const before = heapUsed()
    const pings = `[4,${Array.from({ length: 1_000 }, (_, i) => `[6,${i}]`).join(',')}]`
    // Up to 60 MB of pings; the hub must close the attacker long before.
    for (let i = 0; i < 6_000 && attacker.socket.readyState === WebSocket.OPEN; i++) {
      if (running.hub.stats().connections < 2) break
      attacker.socket.send(pings)
      if (i % 50 === 49) await nextTask()
    }
    await waitFor(() => running.hub.stats().connections === 1, { timeoutMs: 10_000 })
    expect(heapUsed() - before).toBeLessThan(16 * 1024 * 1024)
    expect(errors.some((error) => error.code === 'ERR_OVERFLOW')).toBe(true)
    await control.stream(200)
  })

  it('bounds what subscriptions refused past the limit cost: error frames and onError calls are rate-limited', async () => {
    const { running, errors } = await hubWith(cleanup, {
      maxSubscriptionsPerConnection: 10,
      maxBufferedBytes: 512 * 1024,
    })
    const control = await controlSpoke(running)
    const attacker = await nonReader(running.url)
    attacker.socket.send(HELLO)
    await waitFor(() => running.hub.stats().connections === 2, { timeoutMs: 5_000 })
    attacker.pause()
    const before = heapUsed()
    const started = Date.now()
    const type = 'x'.repeat(200)
    // 30 MB of subscriptions, nearly all past the limit.
    for (let i = 0; i < 300 && running.hub.stats().connections === 2; i++) {
      attacker.socket.send(`[4,${Array.from({ length: 500 }, (_, j) => `[2,"${type}${i}_${j}"]`).join(',')}]`)
      if (i % 20 === 19) await nextTask()
    }
    await control.stream(100)
    const seconds = (Date.now() - started) / 1000
    expect(heapUsed() - before).toBeLessThan(16 * 1024 * 1024)
    const limitErrors = errors.filter((error) => error.code === 'ERR_LIMIT')
    expect(limitErrors.length).toBeGreaterThan(0)
    expect(limitErrors.length).toBeLessThanOrEqual(10 * Math.ceil(seconds + 1))
    expect(running.hub.stats().dropped).toBeGreaterThan(100_000)
  })

  it('a stalled reader at the default policy costs the others nothing, and learns of its loss as a gap once it reads again', async () => {
    const { running } = await hubWith(cleanup, { maxBufferedBytes: 256 * 1024 })
    const control = await controlSpoke(running, 'busy')
    let stalledSocket: WebSocket | undefined
    class Recorded extends WebSocket {
      constructor(...args: ConstructorParameters<typeof WebSocket>) {
        super(...args)
        stalledSocket = this
      }
    }
    const statuses: EventwireStatus[] = []
    const slow = client(running.url, {
      WebSocket: Recorded as never,
      onStatus: (status) => statuses.push(status),
      onError: () => {},
    })
    cleanup.push(() => slow.close())
    const slowGot: number[] = []
    slow.addEventListener('busy', (event) => slowGot.push((event.detail as { n: number }).n))
    await slow.ready
    await slow.flush()
    await waitFor(() => running.hub.stats().connections === 2, { timeoutMs: 5_000 })
    ;(stalledSocket as unknown as { _socket: Socket })._socket.pause()
    const pad = 'p'.repeat(200)
    const total = 20_000
    for (let n = 0; n < total; n++) {
      running.hub.dispatchEvent(new CustomEvent('busy', { detail: { n, pad } }))
      if (n % 1_000 === 999) await nextTask()
    }
    await waitFor(() => control.got.length === total, { timeoutMs: 15_000 })
    expect(control.got).toEqual(Array.from({ length: total }, (_, n) => n))
    expect(running.hub.stats().dropped).toBeGreaterThan(0)
    ;(stalledSocket as unknown as { _socket: Socket })._socket.resume()
    await waitFor(() => statuses.some((status) => status.type === 'gap'), { timeoutMs: 10_000 })
    // What the slow spoke did receive is still in order; the hole is where the gap says.
    expect(slowGot.every((n, i) => i === 0 || n > slowGot[i - 1]!)).toBe(true)
    expect(slowGot.length).toBeLessThan(total)
  })
})

describe('websocket hub: bounded backlogs and hub-wide limits', () => {
  it('closes a peer whose frames waiting behind a slow authorize pass maxBufferedBytes, with bounded heap', async () => {
    let release: (allowed: boolean) => void = () => {}
    const pending = new Promise<boolean>((resolve) => {
      release = resolve
    })
    const { running, errors } = await hubWith(cleanup, {
      maxBufferedBytes: 1024 * 1024,
      authorize: ({ type }) => (type === 'slow' ? pending : true),
    })
    cleanup.push(() => release(true))
    const control = await controlSpoke(running)
    const attacker = await rawClient(cleanup, running.url)
    attacker.socket.send(`[4,${HELLO},[1,"slow","raw",0]]`)
    await waitFor(() => running.hub.stats().connections === 2, { timeoutMs: 5_000 })
    const before = heapUsed()
    const big = `[1,"slow","raw","${'b'.repeat(256 * 1024)}"]`
    for (let i = 0; i < 40 && attacker.closed() === undefined; i++) {
      attacker.socket.send(big)
      await nextTask()
    }
    await waitFor(() => attacker.closed() !== undefined, { timeoutMs: 5_000 })
    expect(attacker.closed()?.code).toBe(1008)
    expect(heapUsed() - before).toBeLessThan(8 * 1024 * 1024)
    expect(errors.some((error) => error.code === 'ERR_OVERFLOW')).toBe(true)
    await control.stream(100)
  })

  it('refuses subscriptions past maxTotalSubscriptions across connections, each within its own limit', async () => {
    const { running, errors } = await hubWith(cleanup, {
      maxTotalSubscriptions: 100,
      maxSubscriptionsPerConnection: 60,
    })
    const control = await controlSpoke(running)
    const peers = await Promise.all([0, 1, 2].map(() => rawClient(cleanup, running.url)))
    peers.forEach((peer, p) => {
      const subs = Array.from({ length: 50 }, (_, i) => `[2,"t${p}_${i}"]`).join(',')
      peer.socket.send(`[4,${HELLO},${subs}]`)
    })
    await waitFor(() => running.hub.stats().subscriptions === 100, { timeoutMs: 5_000 })
    await waitFor(() => errors.filter((error) => error.code === 'ERR_LIMIT').length >= 3, {
      timeoutMs: 5_000,
    })
    expect(errors.every((error) => error.code === 'ERR_LIMIT')).toBe(true)
    expect(running.hub.stats().subscriptions).toBe(100)
    await control.stream(50)
  })
})

describe('websocket hub: many connections, each within every limit', () => {
  it('holds at most maxTotalBufferedBytes for stalled readers together, each under its own maxBufferedBytes', async () => {
    const ids: string[] = []
    const { running } = await hubWith(cleanup, {
      maxBufferedBytes: 4 * 1024 * 1024,
      maxTotalBufferedBytes: 4 * 1024 * 1024,
      onConnection: (connection) => ids.push(connection.id),
    })
    const control = await controlSpoke(running)
    const stalled = await Promise.all(Array.from({ length: 10 }, () => nonReader(running.url)))
    for (const peer of stalled) peer.socket.send(`[4,${HELLO},[2,"own"]]`)
    await waitFor(() => running.hub.stats().connections === 11, { timeoutMs: 5_000 })
    for (const peer of stalled) peer.pause()
    const before = heapUsed()
    // Distinct frames per link (a shared fan-out frame would be counted once by the heap).
    for (let n = 0; n < 10_000; n++) {
      for (const id of ids.slice(1)) {
        running.hub
          .connectionTarget(id)
          ?.dispatchEvent(new CustomEvent('own', { detail: `${id}:${n}:${'d'.repeat(1_000)}` }))
      }
      if (n % 200 === 199) await nextTask()
    }
    // 100 MB went to ten links that may each hold 4 MiB; together they hold about 4 MiB.
    expect(heapUsed() - before).toBeLessThan(12 * 1024 * 1024)
    expect(running.hub.stats().dropped).toBeGreaterThan(50_000)
    await control.stream(200)
  })

  it('at default limits, subscriptions from many connections stop at maxTotalSubscriptions (200,000), and what they cost is measured', async () => {
    const { running } = await hubWith(cleanup, { onError: () => {} })
    const before = heapUsed()
    const peers = await Promise.all(Array.from({ length: 21 }, () => rawClient(cleanup, running.url)))
    for (const [p, peer] of peers.entries()) {
      // A batch carries at most 10,000 frames, the hello included.
      const subs = Array.from({ length: 9_990 }, (_, i) => `[2,"${`${p}_${i}_`.padEnd(256, 'x')}"]`)
      peer.socket.send(`[4,${HELLO},${subs.join(',')}]`)
    }
    await waitFor(
      () =>
        peers.every((peer) => peer.errorFrames().length > 0 || running.hub.stats().subscriptions === 200_000),
      {
        timeoutMs: 20_000,
      },
    )
    await waitFor(
      () =>
        running.hub.stats().subscriptions === 200_000 && peers.some((peer) => peer.errorFrames().length > 0),
      {
        timeoutMs: 20_000,
      },
    )
    const perEntry = (heapUsed() - before) / 200_000
    console.log(
      `hub heap per subscription (256-character type, 21 connections): ${Math.round(perEntry)} bytes`,
    )
    expect(running.hub.stats().subscriptions).toBe(200_000)
    // The worst case at default limits that docs/security.md computes from this: under 1 KiB an entry.
    expect(perEntry).toBeLessThan(1024)
  })
})

describe('websocket hub: what peers report', () => {
  it('reports a flood of error frames from a spoke as ERR_REMOTE, at most 10 a second, text cut short', async () => {
    const { running, errors } = await hubWith(cleanup)
    const control = await controlSpoke(running)
    const attacker = await rawClient(cleanup, running.url)
    const long = 'u'.repeat(900)
    const frames = Array.from({ length: 3_000 }, (_, i) =>
      JSON.stringify([5, i % 2 === 0 ? 'ERR_UNAUTHORIZED' : 'ERR_LIMIT', long, null]),
    )
    const started = Date.now()
    attacker.socket.send(`[4,${HELLO},${frames.join(',')}]`)
    await waitFor(() => errors.length >= 1, { timeoutMs: 5_000 })
    await control.stream(100)
    const seconds = (Date.now() - started) / 1000
    expect(errors.length).toBeLessThanOrEqual(10 * Math.ceil(seconds + 1))
    for (const error of errors) {
      expect(error.code).toBe('ERR_REMOTE')
      expect(error.message.length).toBeLessThan(400)
    }
  })

  it('answers a detail nested too deep to relay with an error frame to its sender', async () => {
    const { running } = await hubWith(cleanup)
    const listener = await controlSpoke(running, 'deep')
    const attacker = await rawClient(cleanup, running.url)
    const detail = `${'['.repeat(20_000)}${']'.repeat(20_000)}`
    attacker.socket.send(`[4,${HELLO},[1,"deep","raw",${detail}]]`)
    await waitFor(() => attacker.errorFrames().length === 1, { timeoutMs: 5_000 })
    expect(attacker.errorFrames()[0]?.[1]).toBe('ERR_SERIALIZE')
    await listener.stream(10)
  })
})

describe('websocket hub: oversized messages', () => {
  async function oversized(running: RunningHub, errors: EventwireError[], bytes: number) {
    const closed: Array<{ code?: number; error?: Error }> = []
    const attacker = await rawClient(cleanup, running.url)
    attacker.socket.send(HELLO)
    await waitFor(() => running.hub.stats().connections >= 1, { timeoutMs: 5_000 })
    const droppedBefore = running.hub.stats().dropped
    attacker.socket.send(`[1,"t","raw","${'o'.repeat(bytes)}"]`)
    await waitFor(() => attacker.closed() !== undefined, { timeoutMs: 5_000 })
    return { attacker, closed, dropped: running.hub.stats().dropped - droppedBefore, errors }
  }

  it('on attach(): ERR_FRAME_TOO_LARGE to onError, dropped + 1, an error frame, then 1009', async () => {
    const disconnections: Array<EventwireError | undefined> = []
    const { running, errors } = await hubWith(cleanup, {
      maxPayload: 64 * 1024,
      onDisconnection: (_connection, info) => disconnections.push(info.error as EventwireError | undefined),
    })
    const { attacker, dropped } = await oversized(running, errors, 100 * 1024)
    expect(attacker.closed()?.code).toBe(1009)
    expect(dropped).toBe(1)
    expect(attacker.errorFrames().map((frame) => frame[1])).toEqual(['ERR_FRAME_TOO_LARGE'])
    expect(errors.map((error) => error.code)).toEqual(['ERR_FRAME_TOO_LARGE'])
    await waitFor(() => disconnections.length === 1, { timeoutMs: 5_000 })
    expect(disconnections[0]?.code).toBe('ERR_FRAME_TOO_LARGE')
  })

  it('on attach(): past twice maxPayload the socket layer refuses it unread, and it is reported the same way', async () => {
    const { running, errors } = await hubWith(cleanup, { maxPayload: 64 * 1024 })
    const before = heapUsed()
    const { attacker, dropped } = await oversized(running, errors, 4 * 1024 * 1024)
    expect(attacker.closed()?.code).toBe(1009)
    expect(dropped).toBe(1)
    expect(errors.map((error) => error.code)).toEqual(['ERR_FRAME_TOO_LARGE'])
    expect(heapUsed() - before).toBeLessThan(4 * 1024 * 1024)
  })

  it('behind Hono on Node, set up as docs/websocket-server.md shows, reports it the same way', async () => {
    const errors: EventwireError[] = []
    const hub = createWebSocketServerEventTarget({ maxPayload: 64 * 1024, onError: (e) => errors.push(e) })
    const app = new Hono()
    app.get('/ws', hub.upgrade(upgradeWebSocket))
    const wss = new WebSocketServer({ noServer: true, maxPayload: 2 * 64 * 1024 })
    const server = await new Promise<ServerType>((resolve) => {
      const started = serve(
        { fetch: app.fetch, port: 0, hostname: '127.0.0.1', websocket: { server: wss } },
        () => resolve(started),
      )
    })
    cleanup.push(async () => {
      await hub.close()
      wss.close()
      await new Promise((resolve) => server.close(resolve))
    })
    const { port } = server.address() as AddressInfo
    const running = { hub, url: `ws://127.0.0.1:${port}/ws` } as RunningHub
    const inBand = await oversized(running, errors, 100 * 1024)
    expect(inBand.attacker.closed()?.code).toBe(1009)
    expect(inBand.attacker.errorFrames().map((frame) => frame[1])).toEqual(['ERR_FRAME_TOO_LARGE'])
    const unread = await oversized(running, errors, 4 * 1024 * 1024)
    expect(unread.attacker.closed()?.code).toBe(1009)
    expect(unread.dropped).toBe(1)
    expect(errors.map((error) => error.code)).toEqual(['ERR_FRAME_TOO_LARGE', 'ERR_FRAME_TOO_LARGE'])
  })
})

describe('websocket client: a hub that floods it', () => {
  it('a hub that floods pings and never reads the pongs: the client holds a bounded queue, then drops the link', async () => {
    const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 })
    await new Promise((resolve) => wss.once('listening', resolve))
    cleanup.push(() => {
      for (const socket of wss.clients) socket.terminate()
      return new Promise((resolve) => wss.close(resolve))
    })
    const { port } = wss.address() as AddressInfo
    let connections = 0
    let flooding = true
    cleanup.push(() => {
      flooding = false
    })
    wss.on('connection', (socket) => {
      connections++
      socket.once('message', async () => {
        socket.send('[0,1,"hostile","hub"]')
        ;(socket as unknown as { _socket: Socket })._socket.pause()
        const pings = `[4,${Array.from({ length: 1_000 }, (_, i) => `[6,${i}]`).join(',')}]`
        for (let i = 0; i < 6_000 && flooding && socket.readyState === WebSocket.OPEN; i++) {
          socket.send(pings)
          if (i % 50 === 49) await nextTask()
        }
      })
    })
    const errors: EventwireError[] = []
    const before = heapUsed()
    const spoke = client(`ws://127.0.0.1:${port}`, {
      maxBufferedBytes: 512 * 1024,
      onError: (error) => errors.push(error),
      reconnect: { initialDelayMs: 60_000, maxDelayMs: 60_000 },
    })
    cleanup.push(() => spoke.close())
    await waitFor(() => errors.some((error) => error.code === 'ERR_OVERFLOW'), { timeoutMs: 15_000 })
    expect(connections).toBe(1)
    expect(spoke.stats().connections).toBe(0)
    expect(heapUsed() - before).toBeLessThan(16 * 1024 * 1024)
  })
})
