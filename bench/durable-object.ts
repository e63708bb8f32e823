/**
 * Fan-out from a Durable Object, in workerd (miniflare's runtime): eventwire's hub in the object against
 * the hand-written object a user would write, which loops over `ctx.getWebSockets()` and sends each event
 * to each socket. Both run in the same workerd, each in a room of 10, then 100, spokes; the spokes live in
 * a child process. A round is one burst: a request makes the object dispatch K events (each a new detail
 * of about 200 bytes), timed until every spoke has all K, in order. Contenders alternate round by round;
 * the ratio is the median of the per-round ratios of deliveries per second.
 */
import { type ChildProcess, fork } from 'node:child_process'
import { rmSync } from 'node:fs'
import { bundleWorker, startWorker } from '../test/support/durable-object.js'
import { type Contender, ROUNDS, report } from './harness.js'
import { bundleChild, childExecArgv } from './support/child.js'
import type { FromChild, Kind, ToChild } from './support/durable-object-common.js'

const OURS = 'eventwire hub'
const RAW = 'hand-written loop'
/** Events per burst, so that a burst is some 100 ms of work at either size. */
const EVENTS: Record<number, number> = { 10: 2_000, 100: 400 }
/**
 * How the object dispatches a burst: all events in one task (as a request or message that publishes
 * several does: the hub batches them per socket), or each in a task of its own (as events that each come
 * in their own message: nothing to batch).
 */
const PACINGS = [
  { paced: false, what: 'in one task' },
  { paced: true, what: 'one per task' },
] as const

/** The child's next answer, rejected when it reports a failure. */
function answer(child: ChildProcess): Promise<FromChild> {
  return new Promise((resolve, reject) => {
    child.once('message', (message: FromChild) => {
      if (message.type === 'failed') reject(new Error(`spokes: ${message.message}`))
      else resolve(message)
    })
  })
}

async function tell(child: ChildProcess, message: ToChild): Promise<FromChild | undefined> {
  // Only `connect` is answered at once; `expect` is answered by `done`, `close` not at all.
  const answered = message.type === 'connect' ? answer(child) : undefined
  child.send(message)
  return answered
}

export async function run(): Promise<void> {
  const [script, spokesFile] = await Promise.all([
    bundleWorker(new URL('../bench/support/durable-object-worker.ts', import.meta.url)),
    bundleChild('../bench/support/durable-object-spokes.ts', 'durable-object-spokes'),
  ])
  const running = await startWorker(script, { ROOMS: 'Room', RAW_ROOMS: 'RawRoom' })
  try {
    for (const spokes of [10, 100]) {
      const child = fork(spokesFile, [], {
        execArgv: childExecArgv(),
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      })
      try {
        await tell(child, { type: 'connect', kind: 'ours', url: `${running.wsOrigin}/ours`, count: spokes })
        await tell(child, { type: 'connect', kind: 'raw', url: `${running.wsOrigin}/raw`, count: spokes })
        for (const { paced, what } of PACINGS) {
          // Paced bursts are slower: fewer events keep a round short.
          const events = paced ? EVENTS[spokes]! / 4 : EVENTS[spokes]!
          /** One burst of `kind`: deliveries per second. */
          const burst = async (kind: Kind): Promise<number> => {
            const done = answer(child)
            await tell(child, { type: 'expect', kind, events })
            const start = performance.now()
            const query = `count=${events}${paced ? '&paced=1' : ''}`
            const response = await fetch(`${running.origin}/burst/${kind}?${query}`, { method: 'POST' })
            if (!response.ok) throw new Error(`burst ${kind}: ${response.status}`)
            await done
            return ((events * spokes) / (performance.now() - start)) * 1000
          }
          // Warm-up, not recorded: both objects and the spokes' code paths settle.
          for (const kind of ['ours', 'raw', 'ours', 'raw'] as const) await burst(kind)
          const rates = new Map<string, number[]>([
            [OURS, []],
            [RAW, []],
          ])
          for (let round = 0; round < ROUNDS * 2; round++) {
            const order: Kind[] = round % 2 === 0 ? ['ours', 'raw'] : ['raw', 'ours']
            for (const kind of order) rates.get(kind === 'ours' ? OURS : RAW)!.push(await burst(kind))
          }
          const contenders: Contender[] = [OURS, RAW].map((name) => ({ name, run: () => {} }))
          report(
            {
              title: `durable object: fan-out of ${events} events (~200-byte JSON each, ${what}) to ${spokes} spokes`,
              unit: 'deliveries',
              contenders,
              ratios: [{ ours: OURS, theirs: RAW }],
            },
            rates,
          )
        }
        await tell(child, { type: 'close' })
      } finally {
        child.kill()
      }
    }
  } finally {
    await running.close()
    rmSync(spokesFile, { force: true })
  }
}
