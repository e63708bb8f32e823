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

  get isRunning(): boolean {
    return this.#process !== undefined && this.#process.exitCode === null
  }

  /** The running server's pid (a benchmark reads its CPU time from /proc). */
  get pid(): number | undefined {
    return this.#process?.pid
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

/** One line of CLUSTER NODES. */
export interface ClusterNodeInfo {
  id: string
  port: number
  flags: string[]
  /** The master's id, for a replica. */
  masterId: string | undefined
  /** Slot ranges, as `[first, last]`. */
  slots: Array<[number, number]>
}

/**
 * A real Redis Cluster on loopback ports, created with `redis-cli --cluster create`: 3 masters by default,
 * optionally with a replica each. Nodes are killed and restarted by pid; a restarted node keeps its
 * identity (nodes.conf in its directory).
 */
export class RedisClusterServers {
  readonly nodes: RedisServer[]

  private constructor(nodes: RedisServer[]) {
    this.nodes = nodes
  }

  static async start(count = 3, options: { replicas?: number } = {}): Promise<RedisClusterServers> {
    const replicas = options.replicas ?? 0
    const nodes: RedisServer[] = []
    for (let i = 0; i < count * (1 + replicas); i++) {
      nodes.push(
        await RedisServer.start([
          '--cluster-enabled',
          'yes',
          '--cluster-config-file',
          'nodes.conf',
          '--cluster-node-timeout',
          '2000',
          // A replica syncs at once (not after the default 5 s), so it can take over soon after it starts.
          '--repl-diskless-sync-delay',
          '0',
        ]),
      )
    }
    await run('redis-cli', [
      '--cluster',
      'create',
      ...nodes.map((node) => `127.0.0.1:${node.port}`),
      '--cluster-replicas',
      String(replicas),
      '--cluster-yes',
    ])
    const cluster = new RedisClusterServers(nodes)
    await cluster.waitHealthy()
    return cluster
  }

  get startupNodes(): Array<{ host: string; port: number }> {
    return this.nodes.map((node) => ({ host: '127.0.0.1', port: node.port }))
  }

  /** Waits until every running node sees the cluster as ok, with every slot on a master it sees as up. */
  async waitHealthy(timeoutMs = 20_000): Promise<void> {
    for (const node of this.nodes.filter((server) => server.isRunning)) {
      await waitFor(
        async () => {
          const info = await node.cli('CLUSTER', 'INFO').catch(() => '')
          if (!info.includes('cluster_state:ok')) return false
          const view = await this.#view(node)
          const covered = view
            .filter((entry) => entry.flags.includes('master') && !entry.flags.some(isFailing))
            .reduce((sum, entry) => sum + entry.slots.reduce((n, [a, b]) => n + b - a + 1, 0), 0)
          if (covered !== 16_384) return false
          // A replica whose master runs has synced with it: it is eligible to take over.
          const self = view.find((entry) => entry.flags.includes('myself'))
          const master = view.find((entry) => entry.id === self?.masterId)
          if (self?.flags.includes('slave') !== true || master === undefined || master.flags.some(isFailing))
            return true
          return (await node.cli('INFO', 'replication')).includes('master_link_status:up')
        },
        { timeoutMs, intervalMs: 50, message: `cluster state ok on ${node.port}` },
      )
    }
  }

  /** CLUSTER NODES as seen from a running node. */
  async view(): Promise<ClusterNodeInfo[]> {
    for (const node of this.nodes) {
      const view = await this.#view(node).catch(() => undefined)
      if (view !== undefined && view.length > 0) return view
    }
    throw new Error('no cluster node answers')
  }

  async #view(node: RedisServer): Promise<ClusterNodeInfo[]> {
    const text = await node.cli('CLUSTER', 'NODES')
    return text
      .split('\n')
      .filter((line) => line.trim().length > 0)
      .map((line) => {
        const fields = line.trim().split(' ')
        const slots: Array<[number, number]> = []
        for (const range of fields.slice(8)) {
          if (range.startsWith('[')) continue
          const [first, last] = range.split('-').map(Number)
          slots.push([first!, last ?? first!])
        }
        return {
          id: fields[0]!,
          port: Number(/:(\d+)@/.exec(fields[1]!)![1]),
          flags: fields[2]!.split(','),
          masterId: fields[3] === '-' ? undefined : fields[3],
          slots,
        }
      })
  }

  /** The slot of a key or channel, as the cluster computes it. */
  async slotOf(name: string): Promise<number> {
    for (const node of this.nodes) {
      const reply = await node.cli('CLUSTER', 'KEYSLOT', name).catch(() => undefined)
      if (reply !== undefined && /^\d+$/.test(reply)) return Number(reply)
    }
    throw new Error('no cluster node answers')
  }

  /** The running server that owns `slot` now. */
  async ownerOf(slot: number): Promise<RedisServer> {
    const view = await this.view()
    const owner = view.find(
      (entry) =>
        entry.flags.includes('master') &&
        !entry.flags.some(isFailing) &&
        entry.slots.some(([first, last]) => slot >= first && slot <= last),
    )
    if (owner === undefined) throw new Error(`no master owns slot ${slot}`)
    return this.#server(owner.port)
  }

  /** Running masters, by server. */
  async masters(): Promise<RedisServer[]> {
    const view = await this.view()
    return view
      .filter(
        (entry) => entry.flags.includes('master') && !entry.flags.some(isFailing) && entry.slots.length > 0,
      )
      .map((entry) => this.#server(entry.port))
  }

  /**
   * Moves `slot` (without keys) to the master `to` the way a resharding does: IMPORTING on the new owner,
   * MIGRATING on the old one, then SETSLOT … NODE on the new owner (which bumps its config epoch, so the
   * whole cluster, replicas included, takes the new owner), the old one and every other master. Redis
   * unsubscribes the slot's shard channels on the old owner.
   */
  async moveSlot(slot: number, to: RedisServer): Promise<void> {
    const from = await this.ownerOf(slot)
    const [toId, fromId] = await Promise.all([to.cli('CLUSTER', 'MYID'), from.cli('CLUSTER', 'MYID')])
    const steps: Array<[RedisServer, string[]]> = [
      [to, ['IMPORTING', fromId]],
      [from, ['MIGRATING', toId]],
      [to, ['NODE', toId]],
      [from, ['NODE', toId]],
      ...(await this.masters())
        .filter((node) => node !== to && node !== from)
        .map((node): [RedisServer, string[]] => [node, ['NODE', toId]]),
    ]
    for (const [node, args] of steps) {
      const reply = await node.cli('CLUSTER', 'SETSLOT', String(slot), ...args)
      if (reply !== 'OK') throw new Error(`SETSLOT ${args.join(' ')} on ${node.port}: ${reply}`)
    }
    await waitFor(async () => (await this.ownerOf(slot)) === to, {
      timeoutMs: 10_000,
      message: `slot ${slot} on ${to.port}`,
    })
    await this.waitHealthy()
  }

  #server(port: number): RedisServer {
    const server = this.nodes.find((node) => node.port === port)
    if (server === undefined) throw new Error(`no server on ${port}`)
    return server
  }

  async stop(): Promise<void> {
    await Promise.all(this.nodes.map((node) => node.stop()))
  }
}

function isFailing(flag: string): boolean {
  return flag === 'fail' || flag === 'fail?' || flag === 'handshake' || flag === 'noaddr'
}
