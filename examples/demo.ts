/**
 * `npm run demo`: one topology, every transport, a live page.
 *
 * - a Hono server (Node) with the WebSocket hub at /ws and a live page at /
 * - two worker threads in a worker hub, bridged to the WebSocket hub, publishing readings
 * - an iroh hub and spoke on loopback, bridged to the WebSocket hub (inside the loopback-only network
 *   namespace only: iroh probes for a UPnP gateway on every bind; `npm run demo:isolated`)
 * - a Node WebSocket spoke chatting, and the hub itself ticking
 * - with REDIS_URL: a second WebSocket hub, both hubs bridged through Redis, the chatting spoke on hub 2
 *
 * Needs no external service. PORT picks the port (default 3000, any free one if taken); DEMO_DURATION_MS
 * stops it by itself. Ctrl-C shuts everything down cleanly.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Worker } from 'node:worker_threads'
import { type ServerType, serve, upgradeWebSocket } from '@hono/node-server'
import { build } from 'esbuild'
import { Hono } from 'hono'
import { Redis } from 'ioredis'
import { WebSocketServer } from 'ws'
import { bridge } from '../src/bridge/index.js'
import { createRedisEventTarget } from '../src/event-target-redis/index.js'
import { createWebSocketClientEventTarget } from '../src/event-target-websocket-client/index.js'
import {
  createWebSocketServerEventTarget,
  type WebSocketServerEventTarget,
} from '../src/event-target-websocket-server/index.js'
import { createWorkerHubEventTarget } from '../src/event-target-worker/index.js'
import { createEvent, type EventwireStats } from '../src/index.js'
import type { DemoEvent } from './demo-events.js'

const log = (line: string) => console.log(`${new Date().toISOString().slice(11, 19)}  ${line}`)
const cleanups: Array<() => Promise<unknown> | unknown> = []
const stats: Array<[string, () => EventwireStats]> = []

const PAGE = `<!doctype html><meta charset="utf-8"><title>eventwire demo</title>
<style>body{font:15px system-ui;margin:2rem;max-width:46rem}td,th{padding:.2rem 1rem;text-align:left}
#status{font-weight:bold}ul{padding-left:1rem;color:#444}</style>
<h1>eventwire: one topology, every transport</h1>
<p>This page is a WebSocket spoke: <span id="status">connecting</span></p>
<table><thead><tr><th>source</th><th>events</th><th>last latency</th></tr></thead><tbody></tbody></table>
<h2>Latest</h2><ul id="log"></ul><script type="module" src="/page.js"></script>`

async function bundle(entry: string, platform: 'browser' | 'node'): Promise<string> {
  const result = await build({
    entryPoints: [new URL(entry, import.meta.url).pathname],
    bundle: true,
    format: 'esm',
    platform,
    target: platform === 'node' ? 'node20' : 'es2022',
    write: false,
    logLevel: 'silent',
  })
  return result.outputFiles[0]!.text
}

async function freePortOr(preferred: number): Promise<number> {
  return new Promise((resolve) => {
    const probe = createServer()
    probe.once('error', () => resolve(0))
    probe.listen(preferred, () => probe.close(() => resolve(preferred)))
  })
}

/** A Hono server with a WebSocket hub at /ws and the page at /. */
async function startHub(port: number, pageScript: string, name: string) {
  const hub = createWebSocketServerEventTarget<DemoEvent>({
    onConnection: () => log(`[${name}] a spoke connected (${hub.stats().connections} now)`),
    onError: (error) => log(`[${name}] ${error.code}: ${error.message}`),
  })
  const app = new Hono()
  app.get('/', (c) => c.html(PAGE))
  app.get('/page.js', (c) => c.body(pageScript, 200, { 'content-type': 'text/javascript' }))
  app.get('/ws', hub.upgrade(upgradeWebSocket))
  const wss = new WebSocketServer({ noServer: true })
  const server = await new Promise<ServerType>((resolve) => {
    const started = serve({ fetch: app.fetch, port, hostname: '127.0.0.1', websocket: { server: wss } }, () =>
      resolve(started),
    )
  })
  const address = server.address() as { port: number }
  cleanups.push(async () => {
    await hub.close()
    wss.close()
    await new Promise((resolve) => server.close(resolve))
  })
  stats.push([name, () => hub.stats()])
  return { hub, url: `http://127.0.0.1:${address.port}/`, wsUrl: `ws://127.0.0.1:${address.port}/ws` }
}

async function startWorkers(hub: WebSocketServerEventTarget<DemoEvent>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'eventwire-demo-'))
  const file = join(dir, 'worker.mjs')
  writeFileSync(file, await bundle('./demo-worker.ts', 'node'))
  const pool = createWorkerHubEventTarget<DemoEvent>()
  const workers = ['worker-1', 'worker-2'].map((name) => {
    const worker = new Worker(file, { workerData: { name } })
    pool.add(worker)
    return worker
  })
  const link = bridge(pool, hub)
  stats.push(['workers', () => pool.stats()])
  cleanups.push(async () => {
    link.close()
    await pool.close()
    await Promise.all(workers.map((worker) => worker.terminate()))
    rmSync(dir, { recursive: true, force: true })
  })
  log('worker hub: 2 worker threads publishing readings')
}

async function startIroh(hub: WebSocketServerEventTarget<DemoEvent>): Promise<void> {
  if (process.env.EVENTWIRE_NETNS !== '1') {
    log('iroh: off here (iroh probes for a UPnP gateway on every bind); `npm run demo:isolated` runs it')
    return
  }
  const { Endpoint, EndpointAddr, presetMinimal, RelayMode } = await import('@number0/iroh')
  const { createIrohHubEventTarget, IROH_ALPN } = await import('../src/event-target-iroh-hub/index.js')
  const { createIrohSpokeEventTarget } = await import('../src/event-target-iroh-spoke/index.js')
  const endpoint = async (alpns: string[]) => {
    const builder = Endpoint.builder()
    presetMinimal(builder)
    builder.relayMode(RelayMode.disabled())
    builder.bindAddr('127.0.0.1:0')
    builder.alpns(alpns.map((alpn) => [...new TextEncoder().encode(alpn)]))
    return builder.bind()
  }
  const hubEndpoint = await endpoint([IROH_ALPN])
  const spokeEndpoint = await endpoint([])
  const irohHub = createIrohHubEventTarget<DemoEvent>({ endpoint: hubEndpoint })
  const direct = hubEndpoint.boundSockets().filter((socket) => socket.startsWith('127.0.0.1:'))
  const spoke = createIrohSpokeEventTarget<DemoEvent>({
    endpoint: spokeEndpoint,
    hub: new EndpointAddr(hubEndpoint.id(), null, direct),
  })
  const link = bridge(irohHub, hub)
  await spoke.ready
  const timer = setInterval(
    () =>
      spoke.dispatchEvent(
        createEvent('chat', { source: 'iroh-spoke', text: 'hello over QUIC', sentAt: Date.now() }),
      ),
    1_500,
  )
  stats.push(['iroh', () => irohHub.stats()])
  cleanups.push(async () => {
    clearInterval(timer)
    link.close()
    await spoke.close()
    await irohHub.close()
    await Promise.all([spokeEndpoint.close(), hubEndpoint.close()])
  })
  log('iroh: a hub and a spoke on loopback, chatting')
}

async function startRedisPair(
  hubs: Array<WebSocketServerEventTarget<DemoEvent>>,
  redisUrl: string,
): Promise<void> {
  for (const [index, hub] of hubs.entries()) {
    const clients = [new Redis(redisUrl), new Redis(redisUrl)]
    const peer = createRedisEventTarget<DemoEvent>({
      publishClient: clients[0]!,
      subscribeClient: clients[1]!,
      prefix: 'eventwire-demo:',
    })
    await peer.ready
    const link = bridge(hub, peer)
    stats.push([`redis ${index + 1}`, () => peer.stats()])
    cleanups.push(async () => {
      link.close()
      await peer.close()
      await Promise.all(clients.map((client) => client.quit()))
    })
  }
  log(`redis: both hubs bridged through ${redisUrl}`)
}

function startChatter(wsUrl: string, name: string): void {
  const spoke = createWebSocketClientEventTarget<DemoEvent>({ url: wsUrl })
  let browserPings = 0
  spoke.addEventListener('browser', () => {
    browserPings++
  })
  const timer = setInterval(
    () =>
      spoke.dispatchEvent(
        createEvent('chat', { source: name, text: `saw ${browserPings} browser pings`, sentAt: Date.now() }),
      ),
    1_000,
  )
  cleanups.push(async () => {
    clearInterval(timer)
    await spoke.close()
  })
}

async function main(): Promise<void> {
  const pageScript = await bundle('./demo-page.ts', 'browser')
  const port = await freePortOr(Number(process.env.PORT ?? 3000))
  const one = await startHub(port, pageScript, 'hub 1')
  const redisUrl = process.env.REDIS_URL
  let chatterUrl = one.wsUrl
  if (redisUrl) {
    const two = await startHub(0, pageScript, 'hub 2')
    await startRedisPair([one.hub, two.hub], redisUrl)
    chatterUrl = two.wsUrl
    log(`hub 2: ${two.url} (its spokes reach hub 1's through Redis)`)
  }
  await startWorkers(one.hub)
  await startIroh(one.hub)
  startChatter(chatterUrl, redisUrl ? 'node-spoke@hub-2' : 'node-spoke')
  const ticker = setInterval(
    () => one.hub.dispatchEvent(createEvent('tick', { source: 'hub', sentAt: Date.now() })),
    1_000,
  )
  cleanups.push(() => clearInterval(ticker))
  log(`open ${one.url} in a browser (Ctrl-C stops)`)

  const progress = setInterval(() => {
    const line = stats
      .map(([name, read]) => {
        const { received, sent } = read()
        return `${name} ${received} in / ${sent} out`
      })
      .join(' · ')
    log(`events so far: ${line}`)
  }, 3_000)
  cleanups.push(() => clearInterval(progress))

  let isStopping = false
  const stop = async () => {
    if (isStopping) return
    isStopping = true
    log('stopping…')
    for (const cleanup of cleanups.reverse()) await cleanup()
    log('closed cleanly')
  }
  process.once('SIGINT', () => void stop().then(() => process.exit(0)))
  process.once('SIGTERM', () => void stop().then(() => process.exit(0)))
  const duration = Number(process.env.DEMO_DURATION_MS ?? 0)
  if (duration > 0) setTimeout(() => void stop(), duration)
}

main().catch((error: unknown) => {
  console.error(error)
  process.exitCode = 1
})
