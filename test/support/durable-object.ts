import { build } from 'esbuild'
import { Miniflare } from 'miniflare'

/**
 * Bundles a Worker written in TypeScript (and what it imports from src/) into one ES module for workerd.
 * The Workers runtime is web-standard: the bundle targets the browser platform.
 */
export async function bundleWorker(entry: string | URL): Promise<string> {
  const result = await build({
    entryPoints: [typeof entry === 'string' ? entry : entry.pathname],
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    conditions: ['workerd', 'worker', 'browser'],
    write: false,
    logLevel: 'silent',
  })
  return result.outputFiles[0]!.text
}

export interface RunningWorker {
  readonly mf: Miniflare
  /** `http://127.0.0.1:<port>` */
  readonly origin: string
  /** `ws://127.0.0.1:<port>` */
  readonly wsOrigin: string
  close(): Promise<void>
}

/**
 * Runs a bundled Worker in workerd (through miniflare) on a free loopback port, with the Durable Object
 * classes bound by name (`{ ROOMS: 'Room' }`).
 */
export async function startWorker(
  script: string,
  durableObjects: Record<string, string>,
): Promise<RunningWorker> {
  const mf = new Miniflare({
    modules: true,
    script,
    host: '127.0.0.1',
    port: 0,
    compatibilityDate: '2025-09-01',
    durableObjects,
  })
  const url = await mf.ready
  const origin = url.origin
  return {
    mf,
    origin,
    wsOrigin: origin.replace(/^http/, 'ws'),
    close: () => mf.dispose(),
  }
}

/** Reads the control route of a room's object (which wakes it). */
export async function control<T = RoomState>(
  running: RunningWorker,
  room: string,
  action = 'state',
  body?: unknown,
): Promise<T> {
  const response = await fetch(`${running.origin}/control/${room}/${action}`, {
    method: body === undefined ? 'GET' : 'POST',
    ...(body === undefined
      ? {}
      : { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } }),
  })
  if (!response.ok) throw new Error(`control ${action}: ${response.status} ${await response.text()}`)
  return (await response.json()) as T
}

export interface RoomState {
  instance: number
  constructed: number
  stats: {
    connections: number
    dispatched: number
    received: number
    sent: number
    dropped: number
    subscriptions: number
  }
  remoteTypes: string[]
  connections: Array<{ id: string; principal: unknown }>
  errors: string[]
}
