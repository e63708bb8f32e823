/**
 * A tiny interleaved benchmark harness. On a shared 2-core machine absolute numbers drift by tens of
 * percent from one second to the next, so contenders run in alternating order over several short rounds,
 * each round's ratio ours/theirs comes from measurements taken moments apart, and medians are reported.
 * Ratios mean much, absolute numbers little. Nothing here asserts speed; `check` asserts correctness.
 */

import { waitFor } from '../src/testing/index.js'

/** Resolves in the next turn of the event loop, after pending I/O: what separates two bursts. */
export const nextTask = (): Promise<void> => new Promise((resolve) => setImmediate(resolve))

/**
 * Calls `send` `n` times, `chunk` per turn of the event loop (the burst a busy server produces between
 * two I/O callbacks), then waits until `isDone()`.
 */
export async function paced(
  n: number,
  send: () => void,
  isDone: () => boolean,
  what: string,
  chunk = 100,
): Promise<void> {
  for (let i = 0; i < n; i++) {
    send()
    if (i % chunk === chunk - 1) await nextTask()
  }
  await waitFor(isDone, { timeoutMs: 60_000, intervalMs: 1, message: what })
}

export interface Contender {
  readonly name: string
  /** Performs `n` operations (may return a promise). */
  readonly run: (n: number) => unknown
  /** Throws if the contender did the wrong work; gets every operation it ran, warm-up included. */
  readonly check?: (totalOps: number) => void
}

export interface Ratio {
  readonly ours: string
  readonly theirs: string
  /** Printed next to the ratio, never asserted. */
  readonly target?: number
}

export interface Comparison {
  readonly title: string
  /** What one operation is, for the table header. @default 'ops' */
  readonly unit?: string
  readonly contenders: readonly Contender[]
  readonly ratios?: readonly Ratio[]
  /** Fixed operations per `run` call; without it the batch is calibrated to about 10 ms. */
  readonly batch?: number
}

export interface Result {
  readonly title: string
  /** Median ops/s per contender name. */
  readonly medians: ReadonlyMap<string, number>
  /** Median over rounds of the per-round ratio, keyed `ours / theirs`. */
  readonly ratios: ReadonlyMap<string, number>
}

export const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5)
export const ROUND_MS = Number(process.env.BENCH_ROUND_MS ?? 300)

const gc = (globalThis as { gc?: () => void }).gc

export function collectGarbage(): void {
  if (gc === undefined) throw new Error('run with node --expose-gc (npm run bench does)')
  gc()
  gc()
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}

export async function compare(comparison: Comparison): Promise<Result> {
  const { contenders } = comparison
  const ran = new Map<Contender, number>(contenders.map((c) => [c, 0]))

  async function timed(c: Contender, n: number): Promise<number> {
    const start = performance.now()
    const result = c.run(n)
    if (typeof (result as PromiseLike<unknown> | null)?.then === 'function') await result
    const ms = performance.now() - start
    ran.set(c, ran.get(c)! + n)
    return ms
  }

  /** Grows the batch until one call takes about 10 ms; this doubles as the JIT warm-up. */
  async function calibrate(c: Contender): Promise<number> {
    if (comparison.batch !== undefined) {
      await timed(c, comparison.batch)
      return comparison.batch
    }
    let n = 1
    for (;;) {
      const ms = await timed(c, n)
      if (ms >= 10 || n >= 2 ** 30) return n
      n = ms < 1 ? n * 8 : Math.ceil((n * 12) / ms)
    }
  }

  /** Calls `c` in batches for about `ROUND_MS`; returns ops/s. */
  async function measure(c: Contender, batch: number): Promise<number> {
    gc?.()
    let ops = 0
    let ms = 0
    while (ms < ROUND_MS) {
      ms += await timed(c, batch)
      ops += batch
    }
    return (ops / ms) * 1000
  }

  const batches = new Map<Contender, number>()
  for (const c of contenders) {
    batches.set(c, await calibrate(c))
    await measure(c, batches.get(c)!) // warm-up round, not recorded: lets the optimizing tier settle
  }

  const rates = new Map<string, number[]>(contenders.map((c) => [c.name, []]))
  for (let round = 0; round < ROUNDS; round++) {
    const order = round % 2 === 0 ? contenders : [...contenders].reverse()
    for (const c of order) rates.get(c.name)!.push(await measure(c, batches.get(c)!))
  }
  for (const c of contenders) c.check?.(ran.get(c)!)
  return report(comparison, rates)
}

/**
 * Prints the table and ratio lines of a comparison from the rates of its rounds (ops/s per contender, the
 * same number of rounds each); for benchmarks that run their own rounds instead of `compare`.
 */
export function report(comparison: Comparison, rates: Map<string, number[]>): Result {
  const unit = comparison.unit ?? 'ops'
  const medians = new Map([...rates].map(([name, r]) => [name, median(r)]))
  const labels = (comparison.ratios ?? []).map((r) => `ratio ${r.ours} / ${r.theirs}`)
  const width = Math.max(24, ...[...rates.keys(), ...labels].map((label) => label.length + 2))
  const lines = [`\n${comparison.title}`]
  lines.push(
    `  ${'contender'.padEnd(width)}${`${unit}/s`.padStart(10)}${'ns/op'.padStart(10)}${'spread'.padStart(9)}`,
  )
  for (const [name, r] of rates) {
    const m = medians.get(name)!
    const spread = ((Math.max(...r) - Math.min(...r)) / 2 / m) * 100
    lines.push(
      `  ${name.padEnd(width)}${si(m).padStart(10)}${(1e9 / m).toFixed(1).padStart(10)}${`±${spread.toFixed(0)}%`.padStart(9)}`,
    )
  }

  const ratios = new Map<string, number>()
  for (const { ours, theirs, target } of comparison.ratios ?? []) {
    const a = rates.get(ours)
    const b = rates.get(theirs)
    if (a === undefined || b === undefined) throw new Error(`unknown contender in ratio ${ours} / ${theirs}`)
    const perRound = a.map((x, i) => x / b[i]!)
    const ratio = median(perRound)
    const label = `${ours} / ${theirs}`
    ratios.set(label, ratio)
    const range = `${Math.min(...perRound).toFixed(2)}–${Math.max(...perRound).toFixed(2)}`
    const goal =
      target === undefined ? '' : `  target ≥${target}× ${ratio >= target ? 'ok' : '<-- BELOW TARGET'}`
    lines.push(
      `  ratio ${label.padEnd(width - 6)}${`${ratio.toFixed(2)}×`.padStart(10)}  rounds ${range}${goal}`,
    )
  }
  console.log(lines.join('\n'))
  return { title: comparison.title, medians, ratios }
}

/** 12345678 -> '12.35 M' */
export function si(value: number): string {
  if (value >= 1e9) return `${(value / 1e9).toFixed(2)} G`
  if (value >= 1e6) return `${(value / 1e6).toFixed(2)} M`
  if (value >= 1e3) return `${(value / 1e3).toFixed(1)} k`
  return value.toFixed(1)
}

/** Throws a loud, specific error when a contender did the wrong amount of work. */
export function expectCount(what: string, actual: number, expected: number): void {
  if (actual !== expected) {
    throw new Error(`sanity check failed: ${what} delivered ${actual}, expected ${expected}`)
  }
}

/** One sender and one receiver across a transport, for paced throughput and latency runs. */
export interface SendReceivePair {
  name: string
  /** Sends one event with this detail from the sending side. */
  send(detail: { n: number; t: number }): void
  /** Called with every detail the receiving side's listener gets; resolves once it is subscribed. */
  onReceive(listener: (detail: { n: number; t: number }) => void): Promise<void>
}

/**
 * A contender that sends n events, `chunk` per tick (the burst a busy server produces between two I/O
 * callbacks), and resolves once the receiver has them all.
 */
export async function pacedThroughput(pair: SendReceivePair, chunk: number): Promise<Contender> {
  let received = 0
  let sent = 0
  await pair.onReceive(() => {
    received++
  })
  return {
    name: pair.name,
    run: (n) =>
      paced(
        n,
        () => pair.send({ n: sent++, t: 0 }),
        () => received === sent,
        `${pair.name}: ${sent + n} events received`,
        chunk,
      ),
    check: (total) => expectCount(pair.name, received, total),
  }
}

/** A pair that owns connections, closed after its benchmark. */
export interface ClosablePair extends SendReceivePair {
  close(): Promise<void>
}

/** A pair as a latency probe: the detail carries the send stamp. */
export function latencyProbe(pair: SendReceivePair): LatencyProbe {
  let n = 0
  return {
    name: pair.name,
    onArrival: (callback) => pair.onReceive((detail) => callback(detail.t)),
    send: (sentAt) => pair.send({ n: n++, t: sentAt }),
  }
}

export interface Percentiles {
  p50: number
  p99: number
}

/** p50 and p99 of a list of samples (sorts it in place). */
export function percentiles(list: number[]): Percentiles {
  const sorted = list.sort((x, y) => x - y)
  return { p50: median(sorted), p99: sorted[Math.floor(sorted.length * 0.99)]! }
}

/** One contender of a latency run: stamps each sample when it sends it and reports the stamp on arrival. */
export interface LatencyProbe {
  readonly name: string
  /** Registers the callback for every sample that arrives, with its `sentAt`; may resolve once subscribed. */
  onArrival(callback: (sentAt: number) => void): void | Promise<void>
  /** Sends one sample stamped `sentAt` (`performance.now()`, or another clock both ends share). */
  send(sentAt: number): void
}

export interface LatencyOptions {
  /** Recorded samples per contender. */
  samples: number
  /**
   * 0: each sample waits for the previous one's arrival (unloaded); otherwise one sample per contender
   * every `intervalMs` (a moderate steady rate). @default 0
   */
  intervalMs?: number
  /**
   * Samples per contender sent first and not recorded: the first few dozen of any contender wait for the
   * JIT and first-use allocations, and 20 slow ones in 1,000 are the whole p99. @default 200
   */
  warmup?: number
}

/**
 * Latency percentiles per contender, interleaved sample by sample (the order flips every sample) so that
 * the contenders share the machine's moment. Checks that every contender got every sample.
 */
export async function interleavedLatency(
  probes: readonly LatencyProbe[],
  options: LatencyOptions,
): Promise<Percentiles[]> {
  const warmup = options.warmup ?? 200
  const intervalMs = options.intervalMs ?? 0
  const total = warmup + options.samples
  const samples = probes.map(() => [] as number[])
  const arrivals = probes.map(() => 0)
  let wake: (() => void) | undefined
  await Promise.all(
    probes.map((probe, index) =>
      probe.onArrival((sentAt) => {
        const elapsed = performance.now() - sentAt
        if (arrivals[index]!++ >= warmup) samples[index]!.push(elapsed)
        wake?.()
      }),
    ),
  )
  for (let n = 0; n < total; n++) {
    const order = n % 2 === 0 ? probes : [...probes].reverse()
    for (const probe of order) {
      const index = probes.indexOf(probe)
      const before = arrivals[index]!
      const arrived = new Promise<void>((resolve) => {
        wake = () => arrivals[index]! > before && resolve()
      })
      probe.send(performance.now())
      if (intervalMs === 0) await arrived
    }
    if (intervalMs > 0) await new Promise((resolve) => setTimeout(resolve, intervalMs))
  }
  await waitFor(() => arrivals.every((count) => count === total), {
    timeoutMs: 10_000,
    message: 'every latency sample arrived',
  })
  probes.forEach((probe, index) => {
    expectCount(`${probe.name} latency samples`, samples[index]!.length, options.samples)
  })
  return samples.map(percentiles)
}

/** A worker that counts what it received in shared memory and reports reaching a target on a port. */
export interface CountingWorker {
  /** [received so far, target]: the worker counts into 0 and posts its count once it reaches 1. */
  readonly counter: Int32Array
  readonly control: {
    on(event: 'message', listener: (value: unknown) => void): unknown
    off(event: 'message', listener: (value: unknown) => void): unknown
  }
}

/** Sets the worker's target and resolves once it has counted up to it. */
export function untilCounted(worker: CountingWorker, target: number): Promise<void> {
  Atomics.store(worker.counter, 1, target)
  if (Atomics.load(worker.counter, 0) >= target) return Promise.resolve()
  return new Promise((resolve) => {
    const onCount = (count: unknown) => {
      if (typeof count !== 'number' || count < target) return
      worker.control.off('message', onCount)
      resolve()
    }
    worker.control.on('message', onCount)
  })
}
