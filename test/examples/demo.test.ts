import { type ChildProcess, spawn } from 'node:child_process'
import { readdirSync, readFileSync, readlinkSync } from 'node:fs'
import { createServer } from 'node:net'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Browser, Page } from 'playwright-core'
import { afterAll, afterEach, describe, expect, it } from 'vitest'
import { waitFor } from '../../src/testing/index.js'
import { launchBrowser } from '../support/browser.js'
import { RedisServer } from '../support/redis-server.js'

const root = fileURLToPath(new URL('../..', import.meta.url))
/** Where the picture in the README comes from; EVENTWIRE_SCREENSHOT writes it elsewhere. */
const screenshot = process.env.EVENTWIRE_SCREENSHOT ?? join(root, 'docs/demo.png')
/** A demo stopped by a signal must be gone, port included, well within this. */
const STOP_MS = 5_000

interface Demo {
  readonly child: ChildProcess
  readonly output: string[]
  readonly url: string
  /** Resolves once npm has exited and every writer of its output is gone (its pipes closed). */
  readonly closed: Promise<void>
  /** Every process of the demo's process group that has not exited. */
  processes(): Array<{ pid: number; ppid: number; command: string }>
}

const started: Demo[] = []
let browser: Browser | undefined
let redis: RedisServer | undefined

afterEach(() => {
  // A failed test leaves nothing running: the whole group, by its id.
  for (const demo of started.splice(0)) {
    if (demo.processes().length > 0) process.kill(-demo.child.pid!, 'SIGKILL')
  }
})

afterAll(async () => {
  await browser?.close()
  await redis?.stop()
})

/** The processes of a process group, from /proc. */
function group(pgid: number): Array<{ pid: number; ppid: number; command: string }> {
  const found: Array<{ pid: number; ppid: number; command: string }> = []
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8')
      const [state, ppid, pgrp] = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
      if (Number(pgrp) !== pgid || state === 'Z') continue
      const command = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0').join(' ').trim()
      found.push({ pid: Number(entry), ppid: Number(ppid), command })
    } catch {
      // gone meanwhile
    }
  }
  return found
}

/** `npm run <script>` as a terminal starts it: in a process group of its own. */
async function startDemo(script: 'demo' | 'demo:isolated', extraEnv: NodeJS.ProcessEnv = {}): Promise<Demo> {
  const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1', ...extraEnv }
  for (const name of ['PORT', 'REDIS_URL', 'DEMO_DURATION_MS']) if (!(name in extraEnv)) delete env[name]
  // Plain `npm run demo` on a machine: not inside the tests' network namespace, so iroh is off.
  if (script === 'demo') delete env.EVENTWIRE_NETNS
  const child = spawn('npm', ['run', script], {
    cwd: root,
    env,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const output: string[] = []
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => output.push(chunk))
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => output.push(chunk))
  const closed = new Promise<void>((resolve) => child.once('close', () => resolve()))
  const processes = () => group(child.pid!)
  started.push({ child, output, url: '', closed, processes })
  const url = await waitFor(() => /open (http:\/\/\S+) in a browser/.exec(output.join(''))?.[1] ?? '', {
    timeoutMs: 30_000,
    message: `the URL of npm run ${script}`,
  })
  return { child, output, url, closed, processes }
}

async function isPortFree(port: number): Promise<boolean> {
  const server = createServer()
  return new Promise((resolve) => {
    server.once('error', () => resolve(false))
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)))
  })
}

/**
 * Sends `signal` to one process of the demo (to its whole group for a negative `pid`, as Ctrl-C in a
 * terminal does) and waits until every process of it is gone and the port is free.
 */
async function stopDemo(demo: Demo, signal: NodeJS.Signals, pid: number): Promise<number> {
  const port = Number(new URL(demo.url).port)
  if (pid > 0) expect(demo.processes().map((each) => each.pid)).toContain(pid)
  const startedAt = Date.now()
  process.kill(pid, signal)
  await waitFor(async () => demo.processes().length === 0 && (await isPortFree(port)), {
    timeoutMs: 10_000,
    intervalMs: 20,
    message: `every process of the demo gone and port ${port} free after ${signal}`,
  })
  const elapsed = Date.now() - startedAt
  // The last lines may still be in the pipe.
  await demo.closed
  const text = demo.output.join('')
  expect(text).toContain('closed cleanly')
  expect(text).not.toMatch(/ERR_|Error/)
  return elapsed
}

/** The node process that runs examples/demo.ts. */
const demoProcess = (demo: Demo) => {
  const found = demo.processes().find(({ command }) => command.includes('examples/demo.ts'))
  expect(found, JSON.stringify(demo.processes())).toBeDefined()
  return found!
}

interface PageTopology {
  nodes: Array<{ id: string; off?: string }>
  edges: Array<{
    from: string
    to: string
    transport: string
    off: boolean
    ratePerSecond: number
    latencyMs?: number
  }>
  off: Array<{ part: string; reason: string }>
  updates: number
}

/** Opens the page and waits until every node in `on` is drawn, and every edge between them carries events. */
async function openPage(
  url: string,
  sources: string[],
  on: string[],
): Promise<{ page: Page; topology: PageTopology }> {
  browser ??= await launchBrowser()
  const page = await browser.newPage({ viewport: { width: 1000, height: 720 } })
  const errors: string[] = []
  page.on('pageerror', (error) => errors.push(error.message))
  await page.goto(url)
  await page.waitForFunction(
    (expected) => {
      const counts = (globalThis as { eventwireCounts?: Record<string, number> }).eventwireCounts ?? {}
      return expected.every((source) => (counts[source] ?? 0) >= 2)
    },
    sources,
    { timeout: 20_000 },
  )
  await page.waitForFunction(
    (ids) => {
      const topology = (globalThis as { eventwireTopology?: PageTopology }).eventwireTopology
      if (topology === undefined) return false
      const isOn = (id: string) => topology.nodes.some((node) => node.id === id && node.off === undefined)
      const live = topology.edges.filter((edge) => ids.includes(edge.from) && ids.includes(edge.to))
      return (
        ids.every(isOn) &&
        live.length >= ids.length - 1 &&
        live.every((edge) => !edge.off && edge.ratePerSecond > 0 && edge.latencyMs !== undefined)
      )
    },
    on,
    { timeout: 20_000 },
  )
  expect(await page.locator('#status').textContent()).toBe('connected')
  expect(errors).toEqual([])
  const topology = (await page.evaluate(
    () => (globalThis as { eventwireTopology?: unknown }).eventwireTopology,
  )) as PageTopology
  // The drawing: a box per node, and on each edge its transport and live figures.
  for (const id of on) await expect(page.locator(`svg [data-node="${id}"]`).count()).resolves.toBe(1)
  for (const edge of topology.edges.filter((each) => on.includes(each.from) && on.includes(each.to))) {
    const label = (await page.locator(`svg [data-edge="${edge.from}>${edge.to}"]`).textContent()) ?? ''
    expect(label).toContain(edge.transport)
    expect(label).toMatch(/\d ev\/s · [\d.]+ ms/)
  }
  return { page, topology }
}

const everyPart = ['hub-1', 'page', 'workers', 'worker-1', 'worker-2', 'node-spoke']

describe('npm run demo', () => {
  it('demo:isolated: iroh runs in a network namespace, its printed URL serves the page from outside it, SIGINT stops it', async () => {
    const demo = await startDemo('demo:isolated')
    // Outside the namespace: this process.
    const isolated = !demo.output.join('').includes('no loopback-only network namespace')
    if (isolated) {
      const inner = demoProcess(demo)
      expect(readlinkSync(`/proc/${inner.pid}/ns/net`)).not.toBe(readlinkSync('/proc/self/ns/net'))
    }
    const response = await fetch(demo.url)
    expect(response.status).toBe(200)
    expect(await response.text()).toContain('<title>eventwire demo</title>')

    const sources = ['hub', 'worker-1', 'worker-2', 'node-spoke', 'iroh-spoke']
    const { page, topology } = await openPage(demo.url, sources, [...everyPart, 'iroh-hub', 'iroh-spoke'])
    expect(topology.off).toEqual([{ part: 'Redis', reason: 'set REDIS_URL' }])
    expect(await page.locator('#off').textContent()).toBe('Redis: off — set REDIS_URL')
    // Figures over a full window (3 s) of a running topology, not of its start.
    await page.waitForFunction(
      (after) =>
        ((globalThis as { eventwireTopology?: { updates: number } }).eventwireTopology?.updates ?? 0) > after,
      topology.updates + 3,
      { timeout: 10_000 },
    )
    await page.screenshot({ path: screenshot })
    await page.close()

    expect(await stopDemo(demo, 'SIGINT', demo.child.pid!)).toBeLessThan(STOP_MS)
  })

  it('says what is off and why, and SIGINT to the npm process stops every process and frees the port', async () => {
    const demo = await startDemo('demo')
    // The default port; inside the tests' network namespace nothing else holds it.
    if (process.env.EVENTWIRE_NETNS === '1') expect(new URL(demo.url).port).toBe('3000')
    const { page, topology } = await openPage(
      demo.url,
      ['hub', 'worker-1', 'worker-2', 'node-spoke'],
      everyPart,
    )
    expect(topology.off.map(({ part }) => part)).toEqual(['Redis', 'iroh'])
    const off = await page.locator('#off li').allTextContents()
    expect(off).toEqual([
      'Redis: off — set REDIS_URL',
      'iroh: off — needs npm run demo:isolated (network namespace)',
    ])
    await page.close()
    expect(await stopDemo(demo, 'SIGINT', demo.child.pid!)).toBeLessThan(STOP_MS)
  })

  for (const signal of ['SIGTERM', 'SIGHUP'] as const) {
    it(`${signal} to the npm process stops every process and frees the port`, async () => {
      const demo = await startDemo('demo')
      expect(await stopDemo(demo, signal, demo.child.pid!)).toBeLessThan(STOP_MS)
    })
  }

  it('SIGINT to the whole process group (Ctrl-C in a terminal) stops every process and frees the port', async () => {
    const demo = await startDemo('demo')
    expect(await stopDemo(demo, 'SIGINT', -demo.child.pid!)).toBeLessThan(STOP_MS)
  })

  it('with REDIS_URL: a second hub joined through Redis; SIGTERM to the demo process stops them all', async () => {
    redis ??= await RedisServer.start()
    const demo = await startDemo('demo', { REDIS_URL: redis.url })
    const on = ['hub-1', 'page', 'workers', 'worker-1', 'worker-2', 'redis', 'hub-2', 'node-spoke']
    const sources = ['hub', 'worker-1', 'worker-2', 'node-spoke@hub-2']
    const { page, topology } = await openPage(demo.url, sources, on)
    expect(topology.edges.find((edge) => edge.from === 'node-spoke')?.to).toBe('hub-2')
    expect(topology.off.map(({ part }) => part)).toEqual(['iroh'])
    await page.close()
    const inner = demoProcess(demo)
    expect(inner.ppid).toBe(demo.child.pid)
    expect(await stopDemo(demo, 'SIGTERM', inner.pid)).toBeLessThan(STOP_MS)
  })
})
