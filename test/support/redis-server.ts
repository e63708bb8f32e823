import { type ChildProcess, execFile, spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { waitFor } from '../../src/testing/index.js'

const run = promisify(execFile)

/** A free TCP port on 127.0.0.1, as the OS hands it out. */
export async function freePort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const address = server.address()
  await new Promise((resolve) => server.close(resolve))
  if (address === null || typeof address === 'string') throw new Error('no port')
  return address.port
}

async function ping(port: number): Promise<boolean> {
  try {
    const { stdout } = await run('redis-cli', ['-h', '127.0.0.1', '-p', String(port), 'PING'])
    return stdout.trim() === 'PONG'
  } catch {
    return false
  }
}

/**
 * A real redis-server on a free loopback port, started and stopped by its pid. `restart()` comes back on
 * the same port, so clients reconnect on their own.
 */
export class RedisServer {
  readonly port: number
  readonly #args: string[]
  readonly #dir: string
  #process: ChildProcess | undefined

  private constructor(port: number, dir: string, args: string[]) {
    this.port = port
    this.#dir = dir
    this.#args = args
  }

  static async start(extraArgs: string[] = []): Promise<RedisServer> {
    const port = await freePort()
    const dir = mkdtempSync(join(tmpdir(), 'eventwire-redis-'))
    const server = new RedisServer(port, dir, extraArgs)
    await server.#spawn()
    return server
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`
  }

  async #spawn(): Promise<void> {
    const args = [
      '--port',
      String(this.port),
      '--bind',
      '127.0.0.1',
      '--save',
      '',
      '--appendonly',
      'no',
      '--dir',
      this.#dir,
      ...this.#args,
    ]
    this.#process = spawn('redis-server', args, { stdio: 'ignore' })
    await waitFor(() => ping(this.port), {
      timeoutMs: 10_000,
      intervalMs: 20,
      message: `redis-server on ${this.port}`,
    })
  }

  /** Kills the server (SIGKILL: no goodbye to clients) and waits for the process to exit. */
  async kill(): Promise<void> {
    const child = this.#process
    this.#process = undefined
    if (child === undefined || child.exitCode !== null) return
    const exited = new Promise((resolve) => child.once('exit', resolve))
    child.kill('SIGKILL')
    await exited
  }

  async restart(): Promise<void> {
    await this.kill()
    await this.#spawn()
  }

  async stop(): Promise<void> {
    await this.kill()
    rmSync(this.#dir, { recursive: true, force: true })
  }

  /** Runs a redis-cli command against this server and returns its output. */
  async cli(...args: string[]): Promise<string> {
    const { stdout } = await run('redis-cli', ['-h', '127.0.0.1', '-p', String(this.port), ...args])
    return stdout.trim()
  }
}

/** A real 3-master Redis Cluster on loopback ports, created with `redis-cli --cluster create`. */
export class RedisClusterServers {
  readonly nodes: RedisServer[]

  private constructor(nodes: RedisServer[]) {
    this.nodes = nodes
  }

  static async start(count = 3): Promise<RedisClusterServers> {
    const nodes: RedisServer[] = []
    for (let i = 0; i < count; i++) {
      nodes.push(
        await RedisServer.start([
          '--cluster-enabled',
          'yes',
          '--cluster-config-file',
          'nodes.conf',
          '--cluster-node-timeout',
          '2000',
        ]),
      )
    }
    await run('redis-cli', [
      '--cluster',
      'create',
      ...nodes.map((node) => `127.0.0.1:${node.port}`),
      '--cluster-replicas',
      '0',
      '--cluster-yes',
    ])
    for (const node of nodes) {
      await waitFor(async () => (await node.cli('CLUSTER', 'INFO')).includes('cluster_state:ok'), {
        timeoutMs: 20_000,
        intervalMs: 50,
        message: `cluster state ok on ${node.port}`,
      })
    }
    return new RedisClusterServers(nodes)
  }

  get startupNodes(): Array<{ host: string; port: number }> {
    return this.nodes.map((node) => ({ host: '127.0.0.1', port: node.port }))
  }

  async stop(): Promise<void> {
    await Promise.all(this.nodes.map((node) => node.stop()))
  }
}
