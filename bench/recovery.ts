/**
 * Recovery (docs/recovery.md), three comparisons in the same run:
 *
 * - what a history costs a hub: fan-out from a WebSocket hub to 10 clients of the realistic ~200-byte
 *   detail (a new object per event, 100 per turn), with `history` on the type against without, in
 *   interleaved rounds (each round a fresh hub and fresh clients; every client resumes);
 * - how long a client takes to recover 10,000 events it missed (from dialing again to the last one
 *   delivered), against the time the same client takes to receive 10,000 live events;
 * - the Redis Streams history against the in-memory one: appending 10,000 entries (100 per turn) and
 *   reading them back with `since`;
 * - what a history costs Redis peers: node A -> node B through one redis-server, with `history` on the
 *   type against without, in interleaved rounds (each round fresh targets on a prefix of their own).
 *
 * Hub and clients share this process: the comparisons are between two runs of the same path, so what the
 * clients cost falls on both sides.
 */
import { createServer } from 'node:http'
import { Redis } from 'ioredis'
import { WebSocket } from 'ws'
import { createRedisEventTarget, createRedisHistory } from '../src/event-target-redis/index.js'
import { createWebSocketClientEventTarget } from '../src/event-target-websocket-client/index.js'
import { createWebSocketServerEventTarget } from '../src/event-target-websocket-server/index.js'
import { createEvent } from '../src/index.js'
import { type HistoryStore, MemoryHistory } from '../src/transport/index.js'
import { RedisServer } from '../test/support/redis-server.js'
import { collectGarbage, median, ROUNDS, si } from './harness.js'
import { listen } from './support/eventwire.js'
import { detailOf, nextTask } from './support/realistic-common.js'

const TYPE = 'tick'
const CLIENTS = 10
const FAN_OUT_EVENTS = 20_000
const MISSED = 10_000
const CHUNK = 100
/** Target: a history costs at most 15% of fan-out throughput. */
const TARGET = 0.85

interface Running {
  hub: ReturnType<typeof createWebSocketServerEventTarget>
  url: string
  close(): Promise<void>
}

async function startHub(withHistory: boolean): Promise<Running> {
  const hub = createWebSocketServerEventTarget(
    withHistory ? { history: { types: [TYPE], store: new MemoryHistory({ maxEvents: 2 * MISSED }) } } : {},
  )
  const server = createServer()
  hub.attach(server, { path: '/ws' })
  const port = await listen(server)
  return {
    hub,
    url: `ws://127.0.0.1:${port}/ws`,
    close: async () => {
      await hub.close()
      server.closeAllConnections()
      server.close()
    },
  }
}

/** Sends `count` events from the hub, CHUNK per turn, until `received()` reaches `expected`; ms taken. */
async function send(hub: Running['hub'], count: number, received: () => number, expected: number) {
  const start = performance.now()
  for (let sent = 0; sent < count; ) {
    for (let i = 0; i < CHUNK && sent < count; i++, sent++)
      hub.dispatchEvent(createEvent(TYPE, detailOf(TYPE, sent)))
    await nextTask()
  }
  const deadline = Date.now() + 60_000
  while (received() < expected) {
    if (Date.now() > deadline) throw new Error(`received ${received()} of ${expected} after 60 s`)
    await nextTask()
  }
  return performance.now() - start
}

/** Deliveries per second of one fan-out round. */
async function fanOutRound(withHistory: boolean): Promise<number> {
  const running = await startHub(withHistory)
  const clients = Array.from({ length: CLIENTS }, () =>
    createWebSocketClientEventTarget({ url: running.url, heartbeatIntervalMs: 0 }),
  )
  try {
    let received = 0
    for (const client of clients) client.addEventListener(TYPE, () => received++)
    await Promise.all(clients.map((client) => client.ready.then(() => client.flush())))
    collectGarbage()
    const ms = await send(running.hub, FAN_OUT_EVENTS, () => received, FAN_OUT_EVENTS * CLIENTS)
    return (FAN_OUT_EVENTS * CLIENTS) / (ms / 1000)
  } finally {
    await Promise.all(clients.map((client) => client.close()))
    await running.close()
  }
}

/**
 * One client, cut off: ms from its redial to the last of MISSED events it missed, and ms to receive
 * MISSED live events on the same hub and client.
 */
async function recoverRound(): Promise<{ recover: number; live: number }> {
  const running = await startHub(true)
  let socket: WebSocket | undefined
  class RecordedWebSocket extends WebSocket {
    constructor(...args: ConstructorParameters<typeof WebSocket>) {
      super(...args)
      socket = this
    }
  }
  let redialedAt: number | undefined
  let isCut = false
  const client = createWebSocketClientEventTarget({
    url: running.url,
    heartbeatIntervalMs: 0,
    WebSocket: RecordedWebSocket as never,
    reconnect: { initialDelayMs: 10, maxDelayMs: 10 },
    onError: () => {},
    onStatus: (status) => {
      if (status.type === 'connecting' && isCut) redialedAt ??= performance.now()
    },
  })
  try {
    let received = 0
    client.addEventListener(TYPE, () => received++)
    await client.ready
    await client.flush()
    const live = await send(running.hub, MISSED, () => received, MISSED)
    const cut = socket!
    const closed = new Promise((resolve) => cut.once('close', resolve))
    isCut = true
    cut.terminate()
    await closed
    // Dispatched while the client is away: all of them are missed, then recovered.
    for (let i = 0; i < MISSED; i++) running.hub.dispatchEvent(createEvent(TYPE, detailOf(TYPE, i)))
    const deadline = Date.now() + 60_000
    while (received < 2 * MISSED) {
      if (Date.now() > deadline) throw new Error(`recovered ${received - MISSED} of ${MISSED} after 60 s`)
      await nextTask()
    }
    const done = performance.now()
    if (received !== 2 * MISSED) throw new Error(`received ${received}, expected ${2 * MISSED}`)
    return { recover: done - redialedAt!, live }
  } finally {
    await client.close()
    await running.close()
  }
}

/** ms to append MISSED entries (CHUNK per turn, each append awaited at the end of its turn) and to read them. */
async function storeRound(store: HistoryStore): Promise<{ append: number; since: number }> {
  const type = `t${Math.random().toString(36).slice(2, 8)}`
  const start = performance.now()
  let first: { epoch: string; offset: number } | undefined
  for (let n = 0; n < MISSED; n += CHUNK) {
    const pending = []
    for (let i = 0; i < CHUNK; i++) {
      pending.push(store.append(type, { origin: 'bench', text: JSON.stringify(detailOf(type, n + i)) }))
    }
    const positions = await Promise.all(pending)
    first ??= positions[0]
  }
  const appended = performance.now()
  let read = 0
  let offset = first!.offset - 1
  while (read < MISSED) {
    const answer = await store.since(type, first!.epoch, offset)
    if (!answer.recovered) throw new Error(`not recovered: ${answer.reason}`)
    if (answer.entries.length === 0) throw new Error(`read ${read} of ${MISSED}`)
    read += answer.entries.length
    offset = answer.entries[answer.entries.length - 1]!.offset
  }
  return { append: appended - start, since: performance.now() - appended }
}

/** Events per second from Redis node A to node B's listener, with or without history on the type. */
async function redisRound(port: number, withHistory: boolean): Promise<number> {
  const clients = Array.from({ length: 4 }, () => new Redis(port, '127.0.0.1'))
  const prefix = `rec${Math.random().toString(36).slice(2, 8)}:`
  const history = withHistory ? { history: { types: [TYPE], maxEvents: 2 * FAN_OUT_EVENTS } } : {}
  const a = createRedisEventTarget({
    publishClient: clients[0]!,
    subscribeClient: clients[1]!,
    prefix,
    ...history,
  })
  const b = createRedisEventTarget({
    publishClient: clients[2]!,
    subscribeClient: clients[3]!,
    prefix,
    ...history,
  })
  try {
    let received = 0
    b.addEventListener(TYPE, () => received++)
    await Promise.all([a.ready, b.ready])
    await b.flush()
    collectGarbage()
    const start = performance.now()
    for (let sent = 0; sent < FAN_OUT_EVENTS; ) {
      for (let i = 0; i < CHUNK; i++, sent++) a.dispatchEvent(createEvent(TYPE, detailOf(TYPE, sent)))
      await nextTask()
    }
    const deadline = Date.now() + 60_000
    while (received < FAN_OUT_EVENTS) {
      if (Date.now() > deadline) throw new Error(`received ${received} of ${FAN_OUT_EVENTS} after 60 s`)
      await nextTask()
    }
    return FAN_OUT_EVENTS / ((performance.now() - start) / 1000)
  } finally {
    await Promise.all([a.close(), b.close()])
    for (const client of clients) client.disconnect()
  }
}

export async function run(): Promise<void> {
  // Warm-up of both sides, not recorded.
  await fanOutRound(false)
  await fanOutRound(true)
  const off: number[] = []
  const on: number[] = []
  for (let round = 0; round < ROUNDS; round++) {
    for (const withHistory of round % 2 === 0 ? [false, true] : [true, false]) {
      ;(withHistory ? on : off).push(await fanOutRound(withHistory))
    }
  }
  const ratios = on.map((rate, i) => rate / off[i]!)
  const ratio = median(ratios)
  console.log(
    `\nrecovery: WebSocket hub -> ${CLIENTS} clients, ~200-byte detail, ${CHUNK} per turn, ${FAN_OUT_EVENTS} events a round (deliveries/s)`,
  )
  console.log(`  history off          ${si(median(off)).padStart(10)}`)
  console.log(`  history on           ${si(median(on)).padStart(10)}`)
  console.log(
    `  ratio on / off       ${`${ratio.toFixed(2)}×`.padStart(10)}  rounds ${Math.min(...ratios).toFixed(2)}–${Math.max(...ratios).toFixed(2)}  target ≥${TARGET}× ${ratio >= TARGET ? 'ok' : '<-- BELOW TARGET'}`,
  )

  const recovered: Array<{ recover: number; live: number }> = []
  for (let round = 0; round < ROUNDS; round++) recovered.push(await recoverRound())
  const recoverMs = median(recovered.map((r) => r.recover))
  const liveMs = median(recovered.map((r) => r.live))
  console.log(`\nrecovery: one client misses ${MISSED} events, then redials (ms, medians of ${ROUNDS})`)
  console.log(`  from redial to the last recovered event   ${recoverMs.toFixed(1).padStart(8)}`)
  console.log(`  the same number of live events            ${liveMs.toFixed(1).padStart(8)}`)
  console.log(
    `  ratio recovery / live                     ${`${(recoverMs / liveMs).toFixed(2)}×`.padStart(8)}`,
  )

  const redis = await RedisServer.start()
  const client = new Redis(redis.port, '127.0.0.1')
  try {
    const stores: Record<string, () => HistoryStore> = {
      memory: () => new MemoryHistory({ maxEvents: 2 * MISSED }),
      'redis streams': () => createRedisHistory({ client, prefix: 'bench:', maxEvents: 2 * MISSED }),
    }
    const results = new Map<string, Array<{ append: number; since: number }>>()
    for (let round = 0; round < ROUNDS; round++) {
      const names = round % 2 === 0 ? Object.keys(stores) : Object.keys(stores).reverse()
      for (const name of names) {
        const list = results.get(name) ?? []
        list.push(await storeRound(stores[name]!()))
        results.set(name, list)
      }
    }
    console.log(
      `\nrecovery: history stores, ${MISSED} entries of the ~200-byte detail (ms, medians of ${ROUNDS})`,
    )
    const medians = new Map(
      [...results].map(([name, list]) => [
        name,
        { append: median(list.map((r) => r.append)), since: median(list.map((r) => r.since)) },
      ]),
    )
    for (const [name, m] of medians) {
      console.log(
        `  ${name.padEnd(16)} append ${m.append.toFixed(2).padStart(9)}   since ${m.since.toFixed(2).padStart(9)}`,
      )
    }
    const memory = medians.get('memory')!
    const streams = medians.get('redis streams')!
    console.log(
      `  ratio redis / memory  append ${`${(streams.append / memory.append).toFixed(1)}×`.padStart(8)}   since ${`${(streams.since / memory.since).toFixed(0)}×`.padStart(8)}`,
    )

    const redisOff: number[] = []
    const redisOn: number[] = []
    await redisRound(redis.port, false)
    await redisRound(redis.port, true)
    for (let round = 0; round < ROUNDS; round++) {
      for (const withHistory of round % 2 === 0 ? [false, true] : [true, false]) {
        ;(withHistory ? redisOn : redisOff).push(await redisRound(redis.port, withHistory))
      }
    }
    const redisRatios = redisOn.map((rate, i) => rate / redisOff[i]!)
    console.log(
      `\nrecovery: Redis node A -> node B, ~200-byte detail, ${CHUNK} per turn, ${FAN_OUT_EVENTS} events a round (events/s)`,
    )
    console.log(`  history off          ${si(median(redisOff)).padStart(10)}`)
    console.log(`  history on           ${si(median(redisOn)).padStart(10)}`)
    console.log(
      `  ratio on / off       ${`${median(redisRatios).toFixed(2)}×`.padStart(10)}  rounds ${Math.min(...redisRatios).toFixed(2)}–${Math.max(...redisRatios).toFixed(2)}`,
    )
  } finally {
    client.disconnect()
    await redis.stop()
  }
}
