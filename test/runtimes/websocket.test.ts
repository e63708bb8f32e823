import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { build } from 'esbuild'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import type { EventwireStatus } from '../../src/index.js'
import { waitFor } from '../../src/testing/index.js'
import { type ChildScript, runCommand } from '../support/process.js'
import { client, type RunningHub, rawClient, refusedWith, startHub } from '../support/websocket.js'

/**
 * The WebSocket hub behind Hono (`hono/bun`, `hono/deno`) and the WebSocket client on the platform's own
 * `WebSocket`, run on real Bun and Deno (the `bun` and `deno` npm packages ship their binaries) against
 * Node peers on loopback. The fixtures are bundled into a temporary folder outside the project, so they
 * find no node_modules there: the hub must run without the `ws` package.
 */
const bin = (name: string) => fileURLToPath(new URL(`../../node_modules/.bin/${name}`, import.meta.url))
const FIXTURES = fileURLToPath(new URL('./fixtures/', import.meta.url))

interface Runtime {
  name: 'bun' | 'deno'
  command: string
  /** The arguments that run a bundled fixture, with the least permissions it needs. */
  args(file: string, fixtureArgs: string[]): string[]
}

const RUNTIMES: Runtime[] = [
  { name: 'bun', command: bin('bun'), args: (file, rest) => ['run', file, ...rest] },
  {
    name: 'deno',
    command: bin('deno'),
    args: (file, rest) => ['run', '--no-prompt', '--allow-net=127.0.0.1', file, ...rest],
  },
]

let bundles: string
const processes: ChildScript[] = []
const cleanup: Array<() => Promise<unknown> | unknown> = []

beforeAll(async () => {
  bundles = mkdtempSync(join(tmpdir(), 'eventwire-runtimes-'))
  await build({
    entryPoints: ['bun-hub.ts', 'deno-hub.ts', 'spoke.ts'].map((name) => join(FIXTURES, name)),
    outdir: bundles,
    outExtension: { '.js': '.mjs' },
    bundle: true,
    format: 'esm',
    platform: 'neutral',
    mainFields: ['module', 'main'],
    target: 'es2022',
    // Both runtimes provide node: built-ins; `ws` must not be needed (see above).
    external: ['node:*', 'ws'],
    logLevel: 'silent',
  })
})
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step()
  for (const child of processes.splice(0)) await child.kill()
})
afterAll(() => {
  if (bundles !== undefined) rmSync(bundles, { recursive: true, force: true })
})

function start(runtime: Runtime, fixture: string, args: string[] = []): Promise<ChildScript> {
  const file = join(bundles, fixture)
  return runCommand(`${runtime.name} ${fixture}`, runtime.command, runtime.args(file, args)).then((child) => {
    processes.push(child)
    return child
  })
}

function spokeOf(url: string) {
  const statuses: EventwireStatus[] = []
  const target = client(url, { onStatus: (status) => statuses.push(status) })
  cleanup.push(() => target.close())
  return { target, statuses }
}

/** Collects one type's details on a target. */
function collect(target: EventTarget, type: string): unknown[] {
  const got: unknown[] = []
  target.addEventListener(type, (event) => got.push((event as CustomEvent).detail))
  return got
}

const raw = (url: string) => rawClient(cleanup, url)

const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i)

describe.each(RUNTIMES)('$name', (runtime) => {
  it('serves the hub behind Hono: relays among Node spokes in order, answers from its own listener, refuses bad upgrades and frames', async () => {
    const hubProcess = await start(runtime, `${runtime.name}-hub.mjs`)
    const port = Number(hubProcess.output.find((line) => line.startsWith('ready'))!.split(' ')[1])
    const url = `ws://127.0.0.1:${port}/ws?token=let-me-in`
    const a = spokeOf(url)
    const b = spokeOf(url)
    const relayed = collect(b.target, 'to-hub')
    const answersToA = collect(a.target, 'from-hub')
    const answersToB = collect(b.target, 'from-hub')
    const stats = collect(a.target, 'stats')
    await Promise.all([a.target.flush(), b.target.flush()])

    for (const n of range(1, 200)) a.target.dispatchEvent(new CustomEvent('to-hub', { detail: n }))
    await waitFor(() => relayed.length === 200 && answersToA.length === 200 && answersToB.length === 200, {
      timeoutMs: 10_000,
      message: 'every event relayed and answered',
    })
    expect(relayed).toEqual(range(1, 200))
    expect(answersToA.map((answer) => (answer as { echo: number }).echo)).toEqual(range(1, 200))
    expect(answersToB).toEqual(answersToA)
    expect((answersToA[0] as { runtime: string }).runtime).toMatch(new RegExp(`^${runtime.name} `))

    // authenticate runs at the upgrade; a refused client's socket is closed at once with 4401.
    expect(await refusedWith(`ws://127.0.0.1:${port}/ws`)).toBe(4401)
    // Garbage after a hello: an error frame, and the socket stays. A first frame that is not a hello:
    // an error frame, then close 1002.
    const garbage = await raw(url)
    garbage.socket.send('[0,1,"raw-client","spoke"]')
    garbage.socket.send('not a frame')
    await waitFor(() => garbage.frames.some((frame) => frame[0] === 5), { timeoutMs: 5_000 })
    expect(garbage.frames.find((frame) => frame[0] === 5)?.[1]).toBe('ERR_FRAME_MALFORMED')
    const noHello = await raw(url)
    noHello.socket.send('[2,"t"]')
    await waitFor(() => noHello.closed()?.code !== undefined, { timeoutMs: 5_000, message: 'closed' })
    expect(noHello.closed()?.code).toBe(1002)
    expect(garbage.closed()?.code).toBeUndefined()
    // A bye with a code this runtime's sockets refuse to send (1001): the hub forgets the socket and
    // closes it normally.
    const leaving = await raw(url)
    leaving.socket.send('[4,[0,1,"raw-leaving","spoke"],[2,"to-hub"],[8,1001,"going away"]]')
    await waitFor(() => leaving.closed()?.code !== undefined, { timeoutMs: 5_000, message: 'bye closed' })
    expect(leaving.closed()?.code).toBe(1000)

    // The good spokes are unaffected; the hub holds them and the raw socket that sent garbage, and
    // the socket that said bye is gone.
    a.target.dispatchEvent(new CustomEvent('to-hub', { detail: 201 }))
    a.target.dispatchEvent(new CustomEvent('stats-please', { detail: null }))
    await waitFor(() => relayed.length === 201 && stats.length === 1, { timeoutMs: 5_000 })
    expect(relayed.at(-1)).toBe(201)
    expect(stats[0]).toMatchObject({
      connections: 3,
      remoteTypes: ['from-hub', 'stats', 'to-hub'],
    })

    // close() on the hub: each spoke is told why (a bye with 1001) and every socket really closes.
    a.target.dispatchEvent(new CustomEvent('close-please', { detail: null }))
    await waitFor(
      () => [a, b].every((spoke) => spoke.statuses.some((status) => status.type === 'disconnected')),
      { timeoutMs: 5_000, message: 'both spokes saw the hub close' },
    )
    for (const spoke of [a, b]) {
      expect(spoke.statuses.find((status) => status.type === 'disconnected')).toMatchObject({
        error: { message: 'link closed (1001)' },
      })
    }
    await waitFor(() => garbage.closed()?.code !== undefined, {
      timeoutMs: 5_000,
      message: 'the raw socket closed',
    })
    expect(garbage.frames.at(-1)).toEqual([8, 1001, 'hub closed'])
    await hubProcess.kill()
  }, 30_000)

  it('runs the client on the platform WebSocket: echoes in order, and reconnects, resubscribes and reports a gap when the hub restarts', async () => {
    let running: RunningHub = await startHub()
    cleanup.push(() => running.close())
    const node = spokeOf(running.url)
    const echoes = collect(node.target, 'from-spoke')
    await node.target.flush()
    const spoke = await start(runtime, 'spoke.mjs', [running.url])
    await waitFor(() => running.hub.remoteTypes().includes('to-spoke'), { timeoutMs: 5_000 })

    for (const n of range(1, 200)) node.target.dispatchEvent(new CustomEvent('to-spoke', { detail: n }))
    await waitFor(() => echoes.length === 200, { timeoutMs: 10_000, message: 'every event echoed' })
    expect(echoes.map((echo) => (echo as { echo: number }).echo)).toEqual(range(1, 200))
    expect((echoes[0] as { runtime: string }).runtime).toMatch(new RegExp(`^${runtime.name} `))

    // The hub restarts on its port: the runtime's spoke comes back by itself and says so.
    const { port } = running
    await running.close()
    running = await startHub({}, port)
    await waitFor(() => spoke.output.includes('status gap'), {
      timeoutMs: 10_000,
      message: `the ${runtime.name} spoke reported a gap`,
    })
    await waitFor(() => node.statuses.some((status) => status.type === 'gap'), { timeoutMs: 10_000 })
    await node.target.flush()
    await waitFor(() => running.hub.remoteTypes().includes('to-spoke'), { timeoutMs: 5_000 })
    for (const n of range(201, 210)) node.target.dispatchEvent(new CustomEvent('to-spoke', { detail: n }))
    await waitFor(() => echoes.length === 210, { timeoutMs: 10_000, message: 'echoes after the restart' })
    expect(echoes.slice(200).map((echo) => (echo as { echo: number }).echo)).toEqual(range(201, 210))
  }, 30_000)
})
