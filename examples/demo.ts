/**
 * `npm run demo`: one topology, every transport, a live page that draws it.
 *
 * - a Hono server (Node) with the WebSocket hub at /ws and a live page at /
 * - two worker threads in a worker hub, bridged to the WebSocket hub, publishing readings
 * - an iroh hub and spoke on loopback, bridged to the WebSocket hub (inside the loopback-only network
 *   namespace only: iroh probes for a UPnP gateway on every bind; `npm run demo:isolated`)
 * - a Node WebSocket spoke chatting, and the hub itself ticking
 * - with REDIS_URL: a second WebSocket hub, both hubs joined through Redis (scaleOut), the chatting spoke on hub 2
 *
 * Every second the hub sends the pages the topology: each node, each edge with its transport, the events
 * per second across it and their latency, and what is off and why.
 *
 * Needs no external service. PORT picks the port (default 3000, any free one if taken); DEMO_DURATION_MS
 * stops it by itself. SIGINT (Ctrl-C), SIGTERM or SIGHUP shut everything down cleanly, and so does the
 * end of the parent process (npm or tsx killed). `npm run demo:isolated` (scripts/demo-isolated.mjs) sets
 * EVENTWIRE_DEMO_SOCKET, a unix socket the page is also served on, and EVENTWIRE_DEMO_URL, the address
 * it relays to that socket from outside the network namespace.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import type { Server as HttpServer } from 'node:http'
import { createServer, type Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Worker } from 'node:worker_threads'
import { type ServerType, serve, upgradeWebSocket } from '@hono/node-server'
import { build, stop as stopEsbuild } from 'esbuild'
import { Hono } from 'hono'
import { Redis } from 'ioredis'
import { WebSocketServer } from 'ws'
import { bridge, scaleOut } from '../src/bridge/index.js'
import { createRedisEventTarget } from '../src/event-target-redis/index.js'
import { createWebSocketClientEventTarget } from '../src/event-target-websocket-client/index.js'
import {
  createWebSocketServerEventTarget,
  type WebSocketServerEventTarget,
} from '../src/event-target-websocket-server/index.js'
import { createWorkerHubEventTarget } from '../src/event-target-worker/index.js'
import { createEvent, type EventwireStats } from '../src/index.js'
import { type DemoEdge, type DemoEvent, type DemoNode, type DemoTopology, EdgeMeter } from './demo-events.js'

const log = (line: string) => console.log(`${new Date().toISOString().slice(11, 19)}  ${line}`)
const cleanups: Array<() => Promise<unknown> | unknown> = []
const stats: Array<[string, () => EventwireStats]> = []
const REDIS_READY_MS = 5_000
/** Past this, a shutdown stops waiting for cleanups and exits anyway. */
const SHUTDOWN_DEADLINE_MS = 5_000

// --- shutdown: on a signal, when the parent goes away, after DEMO_DURATION_MS, or after a failed start ---

let isStopping = false

function shutdown(reason: string, exitCode = 0): void {
  if (isStopping) return
  isStopping = true
  void (async () => {
    log(`stopping (${reason})…`)
    const deadline = setTimeout(() => {
      log(`cleanup still running after ${SHUTDOWN_DEADLINE_MS / 1000} s; exiting anyway`)
      process.exit(1)
    }, SHUTDOWN_DEADLINE_MS)
    for (const cleanup of cleanups.reverse()) {
      try {
        await cleanup()
      } catch (error) {
        log(`cleanup failed: ${String(error)}`)
      }
    }
    clearTimeout(deadline)
    log('closed cleanly')
    process.exit(exitCode)
  })()
}

// `on`, not `once`: Ctrl-C in a terminal reaches this process twice (from the terminal and from npm).
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(signal, () => shutdown(signal))
// A parent killed without a chance to pass a signal on (SIGKILL, or SIGHUP to npm or tsx, which do not
// forward it) leaves this process to another parent.
const parentPid = process.ppid
setInterval(() => {
  if (process.ppid !== parentPid) shutdown('the parent process is gone')
}, 250).unref()

// --- the topology the page draws ---

/**
 * One edge of the drawing. A bridge's (or scale-out's) edge is counted by what it reports crossing; every
 * other edge by its listeners.
 */
class Edge {
  readonly meter = new EdgeMeter()
  /** Events the bridge on this edge has carried so far, both ways. */
  crossed: (() => number) | undefined
  #bridged = 0

  constructor(
    readonly from: string,
    readonly to: string,
    readonly transport: string,
    readonly off: boolean,
  ) {}

  /** An event dispatched at `sentAt` crossed this edge. */
  arrived(sentAt: number): void {
    if (this.crossed === undefined) this.meter.arrived(sentAt)
    else this.meter.time(Date.now() - sentAt)
  }

  sample(now: number): DemoEdge {
    if (this.crossed !== undefined) {
      const crossed = this.crossed()
      this.meter.count(crossed - this.#bridged)
      this.#bridged = crossed
    }
    return { from: this.from, to: this.to, transport: this.transport, off: this.off, ...this.meter.roll(now) }
  }
}

function bridgeCrossed(link: ReturnType<typeof bridge>): number {
  const { forwardedAToB, forwardedBToA } = link.stats()
  return forwardedAToB + forwardedBToA
}

const nodes = new Map<string, { node: DemoNode; detail?: () => string }>()
const edges = new Map<string, Edge>()
const offParts: DemoTopology['off'] = []

function addNode(node: DemoNode, detail?: () => string): void {
  nodes.set(node.id, detail === undefined ? { node } : { node, detail })
}

function addEdge(from: string, to: string, transport: string, off = false): Edge {
  const edge = new Edge(from, to, transport, off)
  edges.set(`${from}>${to}`, edge)
  return edge
}

const edge = (from: string, to: string): Edge | undefined => edges.get(`${from}>${to}`)

function setOff(part: string, reason: string, ids: string[]): void {
  offParts.push({ part, reason })
  for (const id of ids) {
    const entry = nodes.get(id)
    if (entry !== undefined) entry.node.off = reason
  }
}

function topology(): DemoTopology {
  const now = Date.now()
  return {
    source: 'hub',
    sentAt: now,
    nodes: [...nodes.values()].map(({ node, detail }) =>
      detail === undefined || node.off !== undefined ? node : { ...node, detail: detail() },
    ),
    edges: [...edges.values()].map((each) => each.sample(now)),
    off: offParts,
  }
}

/** Records, on the edge `route` names, each event of `types` that reaches `target`. */
function measure(
  target: { addEventListener(type: string, listener: (event: Event) => void): void },
  types: string[],
  route: (source: string) => Edge | undefined,
): void {
  for (const type of types) {
    target.addEventListener(type, (event) => {
      const { source, sentAt } = (event as CustomEvent<{ source: string; sentAt: number }>).detail
      route(source)?.arrived(sentAt)
    })
  }
}

const spokes = (count: number) => `${count} spoke${count === 1 ? '' : 's'}`

// --- the parts ---

const page = (hubId: string) => `<!doctype html><meta charset="utf-8"><title>eventwire demo</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{font:15px system-ui,sans-serif;margin:1.2rem 2rem;max-width:60rem;color:#1f2937}
h1{font-size:1.5rem;margin:0 0 .3rem}p{margin:.3rem 0}#status{font-weight:bold}
#topology{overflow-x:auto}#topology svg{width:100%;min-width:800px;height:auto;display:block;margin:.4rem 0}
.legend{font-size:13px;color:#4b5563}code{font-size:13px;background:#f3f4f6;padding:0 .25rem;border-radius:3px}
#off{margin:.3rem 0;padding-left:1.2rem}#off li{margin:.1rem 0}
h2{font-size:1.05rem;margin:.8rem 0 .2rem}#log{padding-left:1.2rem;color:#4b5563;font-size:13px;margin:0}
</style>
<body data-hub="${hubId}">
<h1>eventwire: one topology, every transport</h1>
<p>This page is a WebSocket spoke of ${hubId.replace('-', ' ')}: <span id="status">connecting</span></p>
<div id="topology"></div>
<p class="legend">On each edge: its transport, the events per second across it (both ways, last 3 s) and
their mean latency, from dispatch at the source to arrival over the edge.</p>
<ul id="off"></ul>
<h2>Latest</h2><ul id="log"></ul><script type="module" src="/page.js"></script></body>`

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
    probe.listen(preferred, '127.0.0.1', () => probe.close(() => resolve(preferred)))
  })
}

/**
 * A Hono server with a WebSocket hub at /ws and the page at /. With `socketPath`, the same server also
 * takes connections on that unix socket (what `npm run demo:isolated` relays from outside the namespace).
 */
async function startHub(port: number, pageScript: string, id: string, socketPath?: string) {
  const name = id.replace('-', ' ')
  const hub = createWebSocketServerEventTarget<DemoEvent>({
    onConnection: () => log(`[${name}] a spoke connected (${hub.stats().connections} now)`),
    onError: (error) => log(`[${name}] ${error.code}: ${error.message}`),
  })
  const app = new Hono()
  app.get('/', (c) => c.html(page(id)))
  app.get('/page.js', (c) => c.body(pageScript, 200, { 'content-type': 'text/javascript' }))
  app.get('/ws', hub.upgrade(upgradeWebSocket))
  const wss = new WebSocketServer({ noServer: true })
  const server = await new Promise<ServerType>((resolve) => {
    const started = serve({ fetch: app.fetch, port, hostname: '127.0.0.1', websocket: { server: wss } }, () =>
      resolve(started),
    )
  })
  const address = server.address() as { port: number }
  const relayed = new Set<Socket>()
  const relay =
    socketPath === undefined
      ? undefined
      : await new Promise<ReturnType<typeof createServer>>((resolve, reject) => {
          const listener = createServer((socket) => {
            relayed.add(socket)
            socket.once('close', () => relayed.delete(socket))
            server.emit('connection', socket)
          })
          listener.once('error', reject)
          listener.listen(socketPath, () => resolve(listener))
        })
  cleanups.push(async () => {
    await hub.close()
    wss.close()
    relay?.close()
    for (const socket of relayed) socket.destroy()
    ;(server as HttpServer).closeAllConnections()
    await new Promise((resolve) => server.close(resolve))
  })
  stats.push([name, () => hub.stats()])
  addNode({ id, kind: 'hub', label: name, detail: '' }, () => `Hono · ${spokes(hub.stats().connections)}`)
  return { hub, url: `http://127.0.0.1:${address.port}/`, wsUrl: `ws://127.0.0.1:${address.port}/ws` }
}

async function startWorkers(hub: WebSocketServerEventTarget<DemoEvent>, workerScript: string): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'eventwire-demo-'))
  const file = join(dir, 'worker.mjs')
  writeFileSync(file, workerScript)
  const pool = createWorkerHubEventTarget<DemoEvent>()
  const names = ['worker-1', 'worker-2']
  const workers = names.map((name) => {
    const worker = new Worker(file, { workerData: { name } })
    pool.add(worker)
    return worker
  })
  addNode({ id: 'workers', kind: 'hub', label: 'worker hub', detail: '' }, () =>
    spokes(pool.stats().connections).replace('spoke', 'worker'),
  )
  const toHub = addEdge('workers', 'hub-1', 'bridge')
  // What each worker received of the hub's ticks, from the running totals in its readings.
  const received = new Map<string, { ticks: number; latencyMs: number }>()
  for (const name of names) {
    addNode({ id: name, kind: 'spoke', label: name, detail: 'worker thread' })
    addEdge(name, 'workers', 'worker_threads')
  }
  pool.addEventListener('reading', (event) => {
    const { source, sentAt, ticks, tickLatencyMs } = event.detail
    const toWorker = edge(source, 'workers')
    if (toWorker === undefined) return
    toWorker.arrived(sentAt)
    const before = received.get(source) ?? { ticks: 0, latencyMs: 0 }
    toWorker.meter.count(ticks - before.ticks)
    toWorker.meter.time(tickLatencyMs - before.latencyMs, ticks - before.ticks)
    received.set(source, { ticks, latencyMs: tickLatencyMs })
  })
  measure(pool, ['tick'], () => toHub)
  measure(hub, ['reading'], (source) => (names.includes(source) ? toHub : undefined))
  const poolLink = bridge(pool, hub)
  toHub.crossed = () => bridgeCrossed(poolLink)
  stats.push(['workers', () => pool.stats()])
  cleanups.push(async () => {
    poolLink.close()
    await pool.close()
    await Promise.all(workers.map((worker) => worker.terminate()))
    rmSync(dir, { recursive: true, force: true })
  })
  log('worker hub: 2 worker threads publishing readings')
}

async function startIroh(hub: WebSocketServerEventTarget<DemoEvent>): Promise<void> {
  addNode({ id: 'iroh-hub', kind: 'hub', label: 'iroh hub', detail: 'QUIC endpoint' })
  addNode({ id: 'iroh-spoke', kind: 'spoke', label: 'iroh spoke', detail: 'QUIC endpoint' })
  const isOff = process.env.EVENTWIRE_NETNS !== '1'
  const toSpoke = addEdge('iroh-spoke', 'iroh-hub', 'QUIC (iroh)', isOff)
  const toHub = addEdge('iroh-hub', 'hub-1', 'bridge', isOff)
  if (isOff) {
    setOff('iroh', 'needs `npm run demo:isolated` (network namespace)', ['iroh-hub', 'iroh-spoke'])
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
  let ticks = 0
  spoke.addEventListener('tick', (event) => {
    ticks++
    toSpoke.arrived(event.detail.sentAt)
  })
  // The spoke's chats are measured at hub 1: a chat listener on the iroh hub would draw every chat of
  // hub 1 across the bridge.
  measure(hub, ['chat'], (source) => (source === 'iroh-spoke' ? toSpoke : undefined))
  measure(hub, ['chat'], (source) => (source === 'iroh-spoke' ? toHub : undefined))
  measure(irohHub, ['tick'], () => toHub)
  const irohLink = bridge(irohHub, hub)
  toHub.crossed = () => bridgeCrossed(irohLink)
  await spoke.ready
  const timer = setInterval(
    () =>
      spoke.dispatchEvent(
        createEvent('chat', {
          source: 'iroh-spoke',
          text: `saw ${ticks} ticks over QUIC`,
          sentAt: Date.now(),
        }),
      ),
    1_500,
  )
  stats.push(['iroh', () => irohHub.stats()])
  cleanups.push(async () => {
    clearInterval(timer)
    irohLink.close()
    await spoke.close()
    await irohHub.close()
    await Promise.all([spokeEndpoint.close(), hubEndpoint.close()])
  })
  log('iroh: a hub and a spoke on loopback, chatting')
}

/** Two Redis peers, or undefined (and both closed again) when Redis does not answer in time. */
async function connectRedis(redisUrl: string) {
  const peers = [0, 1].map(() => {
    const clients = [new Redis(redisUrl), new Redis(redisUrl)]
    const target = createRedisEventTarget<DemoEvent>({
      publishClient: clients[0]!,
      subscribeClient: clients[1]!,
      prefix: 'eventwire-demo:',
    })
    const close = async () => {
      await target.close()
      await Promise.all(clients.map((client) => client.quit().catch(() => client.disconnect())))
    }
    return { target, clients, close }
  })
  let timer: NodeJS.Timeout | undefined
  const isReady = await Promise.race([
    Promise.all(peers.map((peer) => peer.target.ready)).then(
      () => true,
      () => false,
    ),
    new Promise<false>((resolve) => {
      timer = setTimeout(() => resolve(false), REDIS_READY_MS)
    }),
  ])
  clearTimeout(timer)
  if (isReady) return peers
  for (const peer of peers) {
    peer.target.close().catch(() => {})
    for (const client of peer.clients) client.disconnect()
  }
  return undefined
}

function startChatter(wsUrl: string, name: string, hubId: string): void {
  const spoke = createWebSocketClientEventTarget<DemoEvent>({ url: wsUrl })
  addNode({ id: 'node-spoke', kind: 'spoke', label: 'Node spoke', detail: 'WebSocket client' })
  const toHub = addEdge('node-spoke', hubId, 'WebSocket')
  let browserPings = 0
  spoke.addEventListener('browser', (event) => {
    browserPings++
    toHub.arrived(event.detail.sentAt)
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
  const workerScript = await bundle('./demo-worker.ts', 'node')
  // esbuild keeps a service process; nothing more to build, so it need not outlive the start.
  await stopEsbuild()
  const port = await freePortOr(Number(process.env.PORT ?? 3000))
  const one = await startHub(port, pageScript, 'hub-1', process.env.EVENTWIRE_DEMO_SOCKET)
  addNode({ id: 'page', kind: 'spoke', label: 'this page', detail: 'browser spoke' })
  addEdge('page', 'hub-1', 'WebSocket')

  const redisUrl = process.env.REDIS_URL
  addNode({ id: 'redis', kind: 'broker', label: 'Redis', detail: redisUrl?.replace(/^redis:\/\//, '') ?? '' })
  const peers = redisUrl === undefined ? undefined : await connectRedis(redisUrl)
  const two = peers === undefined ? undefined : await startHub(0, pageScript, 'hub-2')
  if (peers !== undefined && two !== undefined) {
    for (const [index, hub] of [one.hub, two.hub].entries()) {
      const peer = peers[index]!
      const id = `hub-${index + 1}`
      const link = scaleOut(hub, peer.target)
      addEdge('redis', id, 'Redis pub/sub').crossed = () => {
        const { published, delivered } = link.stats()
        return published + delivered
      }
      stats.push([`redis ${index + 1}`, () => peer.target.stats()])
      cleanups.push(async () => {
        link.close()
        await peer.close()
      })
    }
    addEdge('page', 'hub-2', 'WebSocket')
    log(`redis: both hubs joined through ${redisUrl} (scaleOut)`)
    log(`hub 2: ${two.url} (its spokes reach hub 1's through Redis)`)
  } else {
    addNode({ id: 'hub-2', kind: 'hub', label: 'hub 2', detail: '' })
    addEdge('redis', 'hub-1', 'Redis pub/sub', true)
    addEdge('redis', 'hub-2', 'Redis pub/sub', true)
    if (redisUrl === undefined) {
      setOff('Redis', 'set REDIS_URL', ['redis', 'hub-2'])
    } else {
      // `npm run demo:isolated` runs in a network namespace whose loopback is its own.
      const where = process.env.EVENTWIRE_NETNS === '1' ? ' (the network namespace has its own loopback)' : ''
      const reason = `no answer from ${redisUrl} within ${REDIS_READY_MS / 1000} s${where}`
      setOff('Redis', reason, ['redis', 'hub-2'])
      log(`redis: off, ${reason}`)
    }
  }
  await startWorkers(one.hub, workerScript)
  await startIroh(one.hub)
  const chatterHub = two === undefined ? one : two
  const chatterHubId = two === undefined ? 'hub-1' : 'hub-2'
  const chatter = two === undefined ? 'node-spoke' : 'node-spoke@hub-2'
  startChatter(chatterHub.wsUrl, chatter, chatterHubId)
  // What reaches each hub from its WebSocket spokes, and through Redis from the other hub's side (the
  // sources on hub 2 end in '@hub-2').
  const onHubTwo = (source: string) => source.endsWith('@hub-2')
  measure(chatterHub.hub, ['chat'], (source) =>
    source === chatter ? edge('node-spoke', chatterHubId) : undefined,
  )
  measure(one.hub, ['chat', 'browser'], (source) => {
    if (source === 'browser') return edge('page', 'hub-1')
    return two !== undefined && onHubTwo(source) ? edge('redis', 'hub-1') : undefined
  })
  if (two !== undefined) {
    measure(two.hub, ['browser'], (source) => {
      if (source === 'browser@hub-2') return edge('page', 'hub-2')
      return onHubTwo(source) ? undefined : edge('redis', 'hub-2')
    })
  }
  const ticker = setInterval(
    () => one.hub.dispatchEvent(createEvent('tick', { source: 'hub', sentAt: Date.now() })),
    1_000,
  )
  const drawing = setInterval(() => one.hub.dispatchEvent(createEvent('topology', topology())), 1_000)
  cleanups.push(() => {
    clearInterval(ticker)
    clearInterval(drawing)
  })
  log(`open ${process.env.EVENTWIRE_DEMO_URL ?? one.url} in a browser (Ctrl-C stops)`)

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

  const duration = Number(process.env.DEMO_DURATION_MS ?? 0)
  if (duration > 0) setTimeout(() => shutdown(`${duration} ms are up`), duration).unref()
}

main().catch((error: unknown) => {
  console.error(error)
  shutdown('the start failed', 1)
})
