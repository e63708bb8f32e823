// Soak: `npm run soak -- --minutes N`. A WebSocket hub with 200 spokes in 4 child processes and two Redis
// peers bridged to it, under a steady load (2,000 events/s in total), for N minutes. Prints the hub's heap
// and RSS each minute after a full collection, and at the end whether memory stayed flat after warm-up.
import { type ChildProcess, spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { Redis } from 'ioredis'
import { bridge } from '../src/bridge/index.js'
import { createRedisEventTarget, type RedisEventTarget } from '../src/event-target-redis/index.js'
import { waitFor } from '../src/testing/index.js'
import { RedisServer } from '../test/support/redis-server.js'
import { startHub } from '../test/support/websocket.js'

// Re-run with --expose-gc, so each sample is taken after a full collection.
if (typeof globalThis.gc !== 'function') {
  const child = spawn(
    process.execPath,
    ['--expose-gc', '--import', 'tsx', fileURLToPath(import.meta.url), ...process.argv.slice(2)],
    { stdio: 'inherit' },
  )
  child.on('exit', (code) => process.exit(code ?? 1))
} else {
  await soak()
}

function option(name: string, fallback: number): number {
  const index = process.argv.indexOf(`--${name}`)
  const value = index === -1 ? undefined : Number(process.argv[index + 1])
  return value !== undefined && Number.isFinite(value) && value > 0 ? value : fallback
}

async function soak(): Promise<void> {
  const minutes = option('minutes', 10)
  const sampleMs = option('sample-seconds', 60) * 1_000
  const spokeCount = option('spokes', 200)
  const processes = option('processes', 4)
  const rate = option('rate', 2_000)
  // Spokes publish half the load, the two Redis peers the other half.
  const spokeRate = rate / 2
  const peerRate = rate / 4

  const redis = await RedisServer.start()
  const redisClients: Redis[] = []
  const connection = () => {
    const client = new Redis(redis.port, '127.0.0.1')
    redisClients.push(client)
    return client
  }
  const peerErrors: string[] = []
  const peer = (): RedisEventTarget =>
    createRedisEventTarget({
      publishClient: connection(),
      subscribeClient: connection(),
      prefix: 'soak:',
      onError: (error) => peerErrors.push(error.code),
    })

  const hubErrors = new Map<string, number>()
  const running = await startHub({
    onError: (error) => hubErrors.set(error.code, (hubErrors.get(error.code) ?? 0) + 1),
  })
  const hubPeer = peer()
  await hubPeer.ready
  const link = bridge(running.hub, hubPeer)

  // Two Redis peers: each listens to two types and publishes a quarter of the load.
  const peers = [peer(), peer()]
  let peerReceived = 0
  peers.forEach((target, i) => {
    for (const type of [`t${i}`, `t${i + 5}`]) target.addEventListener(type, () => peerReceived++)
  })
  await Promise.all(peers.map((target) => target.ready))
  await Promise.all(peers.map((target) => target.flush()))

  const children: Array<{ child: ChildProcess; stats: number[] }> = []
  const perProcess = Math.ceil(spokeCount / processes)
  const script = fileURLToPath(new URL('./spokes.ts', import.meta.url))
  for (let p = 0; p < processes; p++) {
    const count = Math.min(perProcess, spokeCount - p * perProcess)
    const child = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        script,
        running.url,
        String(count),
        String(p * perProcess),
        String(spokeRate / processes),
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    )
    const entry = { child, stats: [0, 0, 0, 0], ready: false }
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      for (const line of chunk.split('\n')) {
        if (line === 'ready') entry.ready = true
        if (line.startsWith('stats ')) entry.stats = line.split(' ').slice(1).map(Number)
      }
    })
    children.push(entry)
    await waitFor(() => entry.ready, { timeoutMs: 60_000, message: `spoke process ${p} ready` })
  }
  const shutdown = async () => {
    for (const { child } of children) child.kill('SIGKILL')
    link.close()
    for (const target of [...peers, hubPeer]) await target.close()
    await running.close()
    for (const client of redisClients) client.disconnect()
    await redis.stop()
  }
  process.once('SIGINT', () => {
    void shutdown().then(() => process.exit(130))
  })

  let peerSent = 0
  const peerCounters = [0, 0]
  // Paced by the clock, not by timer ticks: a busy event loop catches up instead of publishing less.
  const publishStart = Date.now()
  const publisher = setInterval(() => {
    const due = Math.floor(((Date.now() - publishStart) * peerRate) / 1_000)
    while (peerCounters[0]! < due) {
      peers.forEach((target, i) => {
        const n = ++peerCounters[i]!
        target.dispatchEvent(new CustomEvent(`t${n % 10}`, { detail: { from: `p${i}`, n } }))
        peerSent++
      })
    }
  }, 10)

  const mb = (bytes: number) => (bytes / 1024 / 1024).toFixed(1)
  const samples: Array<{ minute: number; heap: number; rss: number }> = []
  const started = Date.now()
  console.log(
    `soak: ${minutes} min, ${spokeCount} spokes in ${processes} processes, 2 Redis peers, ${rate} events/s; ` +
      `redis-server on ${redis.port}, hub on ${running.port}`,
  )
  for (let minute = 1; Date.now() - started < minutes * 60_000; minute++) {
    await new Promise((resolve) =>
      setTimeout(resolve, Math.min(sampleMs, started + minutes * 60_000 - Date.now())),
    )
    globalThis.gc!()
    const { heapUsed, rss } = process.memoryUsage()
    samples.push({ minute, heap: heapUsed, rss })
    const sums = children.reduce(
      (acc, { stats }) => acc.map((value, i) => value + (stats[i] ?? 0)),
      [0, 0, 0, 0],
    )
    const stats = running.hub.stats()
    console.log(
      `minute ${((Date.now() - started) / 60_000).toFixed(1)}: heap ${mb(heapUsed)} MB, rss ${mb(rss)} MB | connections ${stats.connections}, ` +
        `spoke events sent ${sums[0]}, received ${sums[1]}, out of order ${sums[2]}, gaps ${sums[3]} | ` +
        `peer events sent ${peerSent}, received ${peerReceived} | hub dropped ${stats.dropped}`,
    )
  }
  clearInterval(publisher)

  // Flat: after the first 20% (at least one sample) of warm-up, the heap grows by less than 10% + 4 MB and
  // its fitted slope stays under 0.5 MB per minute.
  const warm = samples.slice(Math.max(1, Math.floor(samples.length * 0.2)))
  let verdict = 'not enough samples after warm-up for a verdict (run at least 3 minutes)'
  if (warm.length >= 2) {
    const heaps = warm.map((sample) => sample.heap)
    const growth = heaps.at(-1)! - heaps[0]!
    const slope = fitSlope(
      warm.map((sample) => sample.minute),
      heaps,
    )
    const flat = growth < heaps[0]! * 0.1 + 4 * 1024 * 1024 && slope < 0.5 * 1024 * 1024
    verdict =
      `${flat ? 'FLAT' : 'GROWING'}: heap after warm-up ${mb(heaps[0]!)} -> ${mb(heaps.at(-1)!)} MB ` +
      `(max ${mb(Math.max(...heaps))}), slope ${(slope / 1024).toFixed(0)} KiB/min, ` +
      `rss ${mb(warm[0]!.rss)} -> ${mb(warm.at(-1)!.rss)} MB`
  }
  const errors = [...hubErrors].map(([code, n]) => `${code}=${n}`).join(' ') || 'none'
  console.log(`verdict: ${verdict}; hub errors: ${errors}; peer errors: ${peerErrors.length}`)
  await shutdown()
  process.exit(0)
}

function fitSlope(xs: number[], ys: number[]): number {
  const n = xs.length
  const mx = xs.reduce((a, b) => a + b, 0) / n
  const my = ys.reduce((a, b) => a + b, 0) / n
  let num = 0
  let den = 0
  for (let i = 0; i < n; i++) {
    num += (xs[i]! - mx) * (ys[i]! - my)
    den += (xs[i]! - mx) ** 2
  }
  return den === 0 ? 0 : num / den
}
