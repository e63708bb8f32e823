/**
 * Scale-out: several WebSocket hubs, each in a process of its own, joined through one redis-server, as
 * one hub. All spokes live in one other process: F receiving spokes per hub and a publisher on the first
 * hub, which sends the realistic ~200-byte detail (a new object per event) with at most IN_FLIGHT events
 * missing at the slowest receiver. Measured: CPU time per delivered event, summed over every process
 * (hubs, spokes, redis-server), against one hub alone with the same F, and throughput against one hub.
 * CPU per delivery stays comparable on a small machine where the processes share two cores.
 *
 * Every configuration of a fan-out is set up at once and measured in interleaved rounds, one window each,
 * the order flipping every round, so drift on a shared machine falls on all of them alike; a ratio is
 * the median of the per-round ratios.
 *
 * `npm run bench -- scale-out`; SCALE_OUT_MS sets each measured window (default 2000), SCALE_OUT_ROUNDS
 * the rounds (default 5), SCALE_OUT_FANOUT the spokes per hub (default
 * "10,100"), SCALE_OUT_HUBS the hub counts besides one (default "2,4"), SCALE_OUT_MODES which joins run
 * (default "bridge,scale-out"), and BENCH_CHILD_ARGS node flags for every child (a profiler).
 */
import { type ChildProcess, fork } from 'node:child_process'
import { readFileSync, rmSync } from 'node:fs'
import { RedisServer } from '../test/support/redis-server.js'
import { median, si } from './harness.js'
import { bundleChild, childExecArgv } from './support/child.js'
import type { FromChild, HubMode, ToChild } from './support/scale-out-common.js'

const WINDOW_MS = Number(process.env.SCALE_OUT_MS ?? 2_000)
const ROUNDS = Number(process.env.SCALE_OUT_ROUNDS ?? 5)
const FANOUTS = (process.env.SCALE_OUT_FANOUT ?? '10,100').split(',').map(Number)
const MODES = (process.env.SCALE_OUT_MODES ?? 'bridge,scale-out').split(',') as HubMode[]
const HUB_COUNTS = (process.env.SCALE_OUT_HUBS ?? '2,4').split(',').map(Number)
/** Target: CPU per delivery of several hubs at most this factor of one hub's, at fan-out 100. */
const TARGET = 1.25

/** A child process that answers one question at a time over IPC. */
class Child {
  readonly #process: ChildProcess
  readonly #name: string
  #pending: { resolve: (message: FromChild) => void; reject: (error: Error) => void } | undefined
  #failure: Error | undefined
  readonly ready: Promise<FromChild>

  constructor(file: string, args: string[], name: string) {
    this.#name = name
    this.#process = fork(file, args, {
      execArgv: childExecArgv(),
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    })
    let readyWaiter: { resolve: (message: FromChild) => void; reject: (error: Error) => void } | undefined
    this.ready = new Promise((resolve, reject) => {
      readyWaiter = { resolve, reject }
    })
    const timer = setTimeout(() => this.#fail(new Error(`${name}: not ready after 60 s`)), 60_000)
    this.#process.on('message', (message: FromChild) => {
      if (message.type === 'ready') {
        clearTimeout(timer)
        readyWaiter?.resolve(message)
        readyWaiter = undefined
      } else if (message.type === 'error') this.#fail(new Error(`${name}: ${message.message}`))
      else {
        const pending = this.#pending
        this.#pending = undefined
        pending?.resolve(message)
      }
    })
    this.#process.on('exit', (code, signal) => {
      clearTimeout(timer)
      this.#fail(new Error(`${name} exited (${code ?? signal})`))
    })
    this.#fail = (error: Error) => {
      this.#failure ??= error
      this.#pending?.reject(this.#failure)
      this.#pending = undefined
      readyWaiter?.reject(this.#failure)
      readyWaiter = undefined
    }
  }

  #fail: (error: Error) => void

  ask(question: ToChild): Promise<FromChild> {
    if (this.#failure !== undefined) return Promise.reject(this.#failure)
    return new Promise((resolve, reject) => {
      this.#pending = { resolve, reject }
      this.#process.send(question)
    })
  }

  async cpu(): Promise<number> {
    const answer = await this.ask({ type: 'usage' })
    if (answer.type !== 'usage') throw new Error(`${this.#name}: expected usage, got ${answer.type}`)
    return answer.cpu
  }

  async close(): Promise<void> {
    const child = this.#process
    if (child.exitCode !== null || child.signalCode !== null) return
    this.#failure ??= new Error('closing')
    const exited = new Promise((resolve) => child.once('exit', resolve))
    child.send({ type: 'close' } satisfies ToChild)
    const timer = setTimeout(() => child.kill(), 5_000)
    await exited
    clearTimeout(timer)
  }
}

/** CPU time of a process that is not ours to ask (redis-server), µs, from /proc. */
function procCpuMicros(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  // utime and stime, fields 14 and 15 of stat(5), in clock ticks of 10 ms on Linux.
  return (Number(fields[11]) + Number(fields[12])) * 10_000
}

interface Measured {
  /** µs of CPU per delivered event, all processes. */
  perDelivery: number
  hubs: number
  spokes: number
  redis: number
  /** Events delivered per second, all spokes. */
  rate: number
}

/** One configuration: its hub processes and its spokes' process, kept alive across the rounds. */
class Topology {
  readonly label: string
  readonly #mode: HubMode
  readonly #hubCount: number
  readonly #fanout: number
  readonly #redis: RedisServer
  readonly #hubs: Child[]
  #spokes: Child | undefined

  constructor(files: Files, redis: RedisServer, mode: HubMode, hubCount: number, fanout: number) {
    this.label = mode === 'alone' ? '1 hub' : `${hubCount} hubs, ${mode}`
    this.#mode = mode
    this.#hubCount = hubCount
    this.#fanout = fanout
    this.#redis = redis
    const prefix = `so${Math.random().toString(36).slice(2, 8)}:`
    this.#hubs = Array.from(
      { length: hubCount },
      (_, i) => new Child(files.hub, [mode, String(redis.port), prefix], `${this.label}: hub ${i}`),
    )
    this.ready = this.#start(files)
  }

  readonly ready: Promise<void>

  async #start(files: Files): Promise<void> {
    const urls = (await Promise.all(this.#hubs.map((hub) => hub.ready))).map((ready) =>
      ready.type === 'ready' && ready.url !== undefined ? ready.url : '',
    )
    this.#spokes = new Child(
      files.spokes,
      [JSON.stringify(urls), String(this.#fanout)],
      `${this.label}: spokes`,
    )
    await this.#spokes.ready
    // A window to warm up, not recorded.
    await this.#spokes.ask({ type: 'pump', ms: WINDOW_MS / 2 })
  }

  /** One measured window: the publisher sends for WINDOW_MS, then every receiver has everything. */
  async window(): Promise<Measured> {
    const spokes = this.#spokes!
    const cpu = async () => ({
      hubs: (await Promise.all(this.#hubs.map((hub) => hub.cpu()))).reduce((a, b) => a + b, 0),
      spokes: await spokes.cpu(),
      redis: this.#mode === 'alone' ? 0 : procCpuMicros(this.#redis.pid!),
    })
    const before = await cpu()
    const pumped = await spokes.ask({ type: 'pump', ms: WINDOW_MS })
    const after = await cpu()
    if (pumped.type !== 'pumped') throw new Error(`${this.label}: expected pumped, got ${pumped.type}`)
    const deliveries = pumped.events * this.#hubCount * this.#fanout
    const hubsCpu = after.hubs - before.hubs
    const spokesCpu = after.spokes - before.spokes
    const redisCpu = after.redis - before.redis
    return {
      perDelivery: (hubsCpu + spokesCpu + redisCpu) / deliveries,
      hubs: hubsCpu / deliveries,
      spokes: spokesCpu / deliveries,
      redis: redisCpu / deliveries,
      rate: (deliveries / pumped.ms) * 1000,
    }
  }

  async close(): Promise<void> {
    await this.#spokes?.close()
    await Promise.all(this.#hubs.map((hub) => hub.close()))
  }
}

interface Files {
  hub: string
  spokes: string
}

/** Medians over the rounds, and the median and range of the per-round ratio to one hub's CPU per delivery. */
interface Summary {
  label: string
  median: Measured
  ratio?: { median: number; min: number; max: number }
  rate?: number
}

function summarize(label: string, rounds: Measured[], base?: Measured[]): Summary {
  const pick = (key: keyof Measured) => median(rounds.map((r) => r[key]))
  const summary: Summary = {
    label,
    median: {
      perDelivery: pick('perDelivery'),
      hubs: pick('hubs'),
      spokes: pick('spokes'),
      redis: pick('redis'),
      rate: pick('rate'),
    },
  }
  if (base !== undefined) {
    const ratios = rounds.map((r, i) => r.perDelivery / base[i]!.perDelivery)
    summary.ratio = { median: median(ratios), min: Math.min(...ratios), max: Math.max(...ratios) }
    summary.rate = median(rounds.map((r, i) => r.rate / base[i]!.rate))
  }
  return summary
}

function line(summary: Summary, target?: number): string {
  const { median: m, ratio } = summary
  const ratioText =
    ratio === undefined
      ? ''.padStart(22)
      : `${ratio.median.toFixed(2)}× (${ratio.min.toFixed(2)}–${ratio.max.toFixed(2)})`.padStart(22)
  const goal =
    target === undefined || ratio === undefined
      ? ''
      : ratio.median <= target
        ? `  target ≤${target}× ok`
        : `  target ≤${target}× <-- ABOVE TARGET`
  const rate = summary.rate === undefined ? '' : `  ${summary.rate.toFixed(2)}× one hub's`
  return (
    `  ${summary.label.padEnd(22)}${m.perDelivery.toFixed(3).padStart(7)} µs${ratioText}` +
    `   hubs ${m.hubs.toFixed(3)} spokes ${m.spokes.toFixed(3)} redis ${m.redis.toFixed(3)}` +
    `   ${si(m.rate).padStart(8)} deliveries/s${rate}${goal}`
  )
}

export async function run(): Promise<void> {
  const files: Files = {
    hub: await bundleChild('../bench/support/scale-out-hub.ts', 'scale-out-hub'),
    spokes: await bundleChild('../bench/support/scale-out-spokes.ts', 'scale-out-spokes'),
  }
  const redis = await RedisServer.start()
  try {
    for (const fanout of FANOUTS) {
      const topologies: Topology[] = []
      try {
        // One after another, each warmed up alone: hundreds of spokes dialing at once on two shared
        // cores can take longer than a spoke waits for its hub.
        for (const [mode, hubCount] of [
          ['alone', 1] as const,
          ...MODES.flatMap((mode) => HUB_COUNTS.map((hubCount) => [mode, hubCount] as const)),
        ]) {
          const topology = new Topology(files, redis, mode, hubCount, fanout)
          topologies.push(topology)
          await topology.ready
        }
        const rounds = topologies.map(() => [] as Measured[])
        for (let round = 0; round < ROUNDS; round++) {
          const order = round % 2 === 0 ? topologies : [...topologies].reverse()
          for (const topology of order) rounds[topologies.indexOf(topology)]!.push(await topology.window())
        }
        console.log(
          `\nscale-out: CPU per delivered event, all processes, ${fanout} spokes per hub ` +
            `(${ROUNDS} interleaved rounds of ${WINDOW_MS} ms windows; medians, ratio to one hub per round)`,
        )
        console.log(`  ${'topology'.padEnd(22)}${'CPU'.padStart(10)}${'ratio (rounds)'.padStart(22)}`)
        topologies.forEach((topology, i) => {
          const summary = summarize(topology.label, rounds[i]!, i === 0 ? undefined : rounds[0])
          console.log(line(summary, fanout === 100 ? TARGET : undefined))
        })
      } finally {
        for (const topology of topologies) await topology.close()
      }
    }
  } finally {
    await redis.stop()
    for (const file of Object.values(files)) rmSync(file, { force: true })
  }
}
