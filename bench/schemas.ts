/**
 * What checking events against schemas costs a hub: ingress throughput of a WebSocket hub whose spokes
 * send realistic events (a ~200-byte JSON envelope, a new object per event:
 * `{ type, id: <uuid>, payload: { n, s: <100 characters>, ts } }`), with the same events declared in
 * zod, valibot, arktype and effect's Schema, against the same hub without a declaration, in one run.
 *
 * One hub per variant in this process (the measured one); the spokes, one WebSocket client per variant,
 * in a child process of their own. Variants take turns in interleaved rounds, the order flipping every
 * round; in each, one spoke sends for ROUND_MS with at most IN_FLIGHT events ahead of the hub's
 * acknowledgements (one per CHUNK events), and the rate is what the hub received over the time from the
 * start until it had them all. Every event must pass its schema: a variant that drops one fails the run.
 */
import { type ChildProcess, fork } from 'node:child_process'
import { rmSync } from 'node:fs'
import { createServer } from 'node:http'
import { performance } from 'node:perf_hooks'
import { type } from 'arktype'
import { Schema } from 'effect'
import * as v from 'valibot'
import { z } from 'zod'
import { createWebSocketServerEventTarget } from '../src/event-target-websocket-server/index.js'
import { createEvent, defineEvents } from '../src/index.js'
import { waitFor } from '../src/testing/index.js'
import type { EventDeclaration } from '../src/transport/index.js'
import { collectGarbage, expectCount, ROUND_MS, ROUNDS, report } from './harness.js'
import { bundleChild, childExecArgv } from './support/child.js'
import { listen } from './support/eventwire.js'
import { CHUNK } from './support/realistic-common.js'
import type { FromSchemaSpokes, ToSchemaSpokes } from './support/schemas-spokes.js'

/** The realistic event's detail, declared in each library; `ack` (the hub's own) passes unchecked. */
const DECLARATIONS: Record<string, EventDeclaration | undefined> = {
  off: undefined,
  zod: defineEvents(
    {
      evt: z.object({
        type: z.string(),
        id: z.uuid(),
        payload: z.object({ n: z.number().int(), s: z.string(), ts: z.number() }),
      }),
    },
    { otherTypes: 'allow' },
  ),
  valibot: defineEvents(
    {
      evt: v.object({
        type: v.string(),
        id: v.pipe(v.string(), v.uuid()),
        payload: v.object({ n: v.pipe(v.number(), v.integer()), s: v.string(), ts: v.number() }),
      }),
    },
    { otherTypes: 'allow' },
  ),
  arktype: defineEvents(
    {
      evt: type({
        type: 'string',
        id: 'string.uuid',
        payload: { n: 'number.integer', s: 'string', ts: 'number' },
      }),
    },
    { otherTypes: 'allow' },
  ),
  effect: defineEvents(
    {
      evt: Schema.toStandardSchemaV1(
        Schema.Struct({
          type: Schema.String,
          id: Schema.String.check(Schema.isUUID()),
          payload: Schema.Struct({ n: Schema.Int, s: Schema.String, ts: Schema.Number }),
        }),
      ),
    },
    { otherTypes: 'allow' },
  ),
}

interface Variant {
  name: string
  url: string
  received: number
  dropped: () => number
  close: () => Promise<void>
}

async function startVariant(name: string, events: EventDeclaration | undefined): Promise<Variant> {
  const hub = createWebSocketServerEventTarget({ events })
  const server = createServer()
  hub.attach(server, { path: '/ws' })
  const port = await listen(server)
  const variant: Variant = {
    name,
    url: `ws://127.0.0.1:${port}/ws`,
    received: 0,
    dropped: () => hub.stats().dropped,
    close: async () => {
      await hub.close()
      server.closeAllConnections()
      server.close()
    },
  }
  hub.addEventListener('evt', () => {
    if (++variant.received % CHUNK === 0) hub.dispatchEvent(createEvent('ack', { count: variant.received }))
  })
  return variant
}

export async function run(): Promise<void> {
  const variants = await Promise.all(
    Object.entries(DECLARATIONS).map(([name, events]) => startVariant(name, events)),
  )
  const script = await bundleChild('../bench/support/schemas-spokes.ts', 'schemas-spokes')
  const child: ChildProcess = fork(script, [], { execArgv: childExecArgv(), stdio: 'inherit' })
  const replies: FromSchemaSpokes[] = []
  child.on('message', (message: FromSchemaSpokes) => replies.push(message))
  const reply = async <T extends FromSchemaSpokes>(match: (message: FromSchemaSpokes) => message is T) => {
    await waitFor(() => replies.some(match), { timeoutMs: 60_000, message: 'the spokes answered' })
    return replies.splice(replies.findIndex(match), 1)[0] as T
  }
  const tell = (message: ToSchemaSpokes) => child.send(message)
  try {
    tell({ urls: Object.fromEntries(variants.map((variant) => [variant.name, variant.url])) })
    await reply((message): message is { ready: true } => 'ready' in message)

    /**
     * One round of a variant: events/s the hub received, from the start until it had every one, and events
     * per second of this process's CPU time (the hub's cost, less sensitive to what else the machine runs).
     */
    const measure = async (variant: Variant): Promise<{ wall: number; cpu: number }> => {
      collectGarbage()
      const before = variant.received
      const cpuBefore = process.cpuUsage()
      const start = performance.now()
      tell({ run: variant.name, ms: ROUND_MS })
      const { sent } = await reply(
        (message): message is { done: string; sent: number } =>
          'done' in message && message.done === variant.name,
      )
      await waitFor(() => variant.received >= sent, {
        timeoutMs: 30_000,
        message: `${variant.name}: all received`,
      })
      const ms = performance.now() - start
      const cpu = process.cpuUsage(cpuBefore)
      expectCount(`${variant.name} hub`, variant.received, sent)
      const events = variant.received - before
      return { wall: (events / ms) * 1000, cpu: (events / (cpu.user + cpu.system)) * 1e6 }
    }

    for (const variant of variants) await measure(variant) // warm-up, not recorded
    const rates = new Map<string, number[]>(variants.map((variant) => [variant.name, []]))
    const cpuRates = new Map<string, number[]>(variants.map((variant) => [variant.name, []]))
    for (let round = 0; round < ROUNDS; round++) {
      const order = round % 2 === 0 ? variants : [...variants].reverse()
      for (const variant of order) {
        const { wall, cpu } = await measure(variant)
        rates.get(variant.name)!.push(wall)
        cpuRates.get(variant.name)!.push(cpu)
      }
    }
    for (const variant of variants) expectCount(`${variant.name} dropped`, variant.dropped(), 0)
    const libraries = variants.filter((variant) => variant.name !== 'off')
    const comparison = (title: string) => ({
      title,
      unit: 'events',
      contenders: variants.map((variant) => ({ name: variant.name, run: () => {} })),
      ratios: libraries.map((variant) => ({ ours: variant.name, theirs: 'off' })),
    })
    report(
      comparison(
        'schemas: hub ingress, one WebSocket spoke in another process, ~200-byte events (on vs off)',
      ),
      rates,
    )
    report(comparison('schemas: the same, per second of the hub process’s CPU time'), cpuRates)
  } finally {
    tell({ close: true })
    await new Promise((resolve) => child.once('exit', resolve))
    await Promise.all(variants.map((variant) => variant.close()))
    rmSync(script, { force: true })
  }
}
