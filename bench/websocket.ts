/**
 * WebSocket hub and client against a naive raw `ws` server and client, in one process on loopback.
 * Raw contenders send one message per event (`JSON.stringify(detail)`) and parse each on arrival; ours go
 * through the hub, its per-tick batching and the client's decoder. Throughput counts an event once every
 * receiving listener has it.
 */
import { createServer } from 'node:http'
import { WebSocket, WebSocketServer } from 'ws'
import type { WebSocketServerEventTarget } from '../src/event-target-websocket-server/index.js'
import type { NetworkEventTarget, TypedEvent } from '../src/index.js'
import { waitFor } from '../src/testing/index.js'
import {
  type Contender,
  collectGarbage,
  compare,
  expectCount,
  interleavedLatency,
  nextTask,
} from './harness.js'
import { listen, spokes, startHub } from './support/eventwire.js'

/** Events dispatched per tick: the burst a busy server produces between two I/O callbacks. */
const CHUNK = 100

interface Ours {
  hub: WebSocketServerEventTarget
  spokes: NetworkEventTarget<TypedEvent>[]
  close(): Promise<void>
}

async function ours(spokeCount: number): Promise<Ours> {
  const running = await startHub()
  const list = await spokes(running.url, spokeCount)
  return {
    hub: running.hub,
    spokes: list,
    close: async () => {
      await Promise.all(list.map((spoke) => spoke.close()))
      await running.close()
    },
  }
}

interface Raw {
  wss: WebSocketServer
  serverSockets: WebSocket[]
  clients: WebSocket[]
  close(): Promise<void>
}

async function raw(clientCount: number): Promise<Raw> {
  const server = createServer()
  const wss = new WebSocketServer({ server })
  const serverSockets: WebSocket[] = []
  wss.on('connection', (socket) => serverSockets.push(socket))
  const port = await listen(server)
  const clients = await Promise.all(
    Array.from(
      { length: clientCount },
      () =>
        new Promise<WebSocket>((resolve, reject) => {
          const socket = new WebSocket(`ws://127.0.0.1:${port}`)
          socket.once('open', () => resolve(socket))
          socket.once('error', reject)
        }),
    ),
  )
  await waitFor(() => serverSockets.length === clientCount, { timeoutMs: 10_000 })
  return {
    wss,
    serverSockets,
    clients,
    close: async () => {
      for (const socket of clients) socket.terminate()
      wss.close()
      server.closeAllConnections()
      server.close()
    },
  }
}

/** Hub -> every spoke: `spokes` listeners each receive every event. */
async function fanOut(spokes: number) {
  const mine = await ours(spokes)
  let ourDeliveries = 0
  for (const spoke of mine.spokes) {
    spoke.addEventListener('tick', () => {
      ourDeliveries++
    })
  }
  await Promise.all(mine.spokes.map((spoke) => spoke.flush()))
  const theirs = await raw(spokes)
  let rawDeliveries = 0
  for (const socket of theirs.clients) {
    socket.on('message', (data) => {
      JSON.parse(String(data))
      rawDeliveries++
    })
  }
  let ourSent = 0
  let rawSent = 0
  const contenders: Contender[] = [
    {
      name: 'eventwire hub',
      run: async (n) => {
        for (let i = 0; i < n; i++) {
          mine.hub.dispatchEvent(new CustomEvent('tick', { detail: { n: ourSent++ } }))
          if (i % CHUNK === CHUNK - 1) await nextTask()
        }
        await waitFor(() => ourDeliveries === ourSent * spokes, { timeoutMs: 60_000, intervalMs: 1 })
      },
      check: (total) => expectCount('eventwire hub', ourDeliveries, total * spokes),
    },
    {
      name: 'raw ws, one message per event',
      run: async (n) => {
        for (let i = 0; i < n; i++) {
          const message = JSON.stringify({ n: rawSent++ })
          for (const socket of theirs.serverSockets) socket.send(message)
          if (i % CHUNK === CHUNK - 1) await nextTask()
        }
        await waitFor(() => rawDeliveries === rawSent * spokes, { timeoutMs: 60_000, intervalMs: 1 })
      },
      check: (total) => expectCount('raw ws', rawDeliveries, total * spokes),
    },
  ]
  const target = spokes === 1 ? 2.5 : 1.5
  const result = await compare({
    title: `websocket: hub -> ${spokes} spoke(s), ${CHUNK} events per tick (events/s, each delivered to every spoke)`,
    unit: 'event',
    batch: spokes >= 100 ? 200 : 2_000,
    contenders,
    ratios: [{ ours: 'eventwire hub', theirs: 'raw ws, one message per event', target }],
  })
  await mine.close()
  await theirs.close()
  return result
}

/** One spoke -> the hub's listener. */
async function ingress() {
  const mine = await ours(1)
  let ourReceived = 0
  mine.hub.addEventListener('tick', () => {
    ourReceived++
  })
  const theirs = await raw(1)
  let rawReceived = 0
  theirs.serverSockets[0]!.on('message', (data) => {
    JSON.parse(String(data))
    rawReceived++
  })
  let ourSent = 0
  let rawSent = 0
  const spoke = mine.spokes[0]!
  const socket = theirs.clients[0]!
  await compare({
    title: `websocket: spoke -> hub, ${CHUNK} events per tick (messages/s)`,
    unit: 'msg',
    batch: 2_000,
    contenders: [
      {
        name: 'eventwire client',
        run: async (n) => {
          for (let i = 0; i < n; i++) {
            spoke.dispatchEvent(new CustomEvent('tick', { detail: { n: ourSent++ } }))
            if (i % CHUNK === CHUNK - 1) await nextTask()
          }
          await waitFor(() => ourReceived === ourSent, { timeoutMs: 60_000, intervalMs: 1 })
        },
        check: (total) => expectCount('eventwire client', ourReceived, total),
      },
      {
        name: 'raw ws client, one message per event',
        run: async (n) => {
          for (let i = 0; i < n; i++) {
            socket.send(JSON.stringify({ n: rawSent++ }))
            if (i % CHUNK === CHUNK - 1) await nextTask()
          }
          await waitFor(() => rawReceived === rawSent, { timeoutMs: 60_000, intervalMs: 1 })
        },
        check: (total) => expectCount('raw ws client', rawReceived, total),
      },
    ],
    ratios: [{ ours: 'eventwire client', theirs: 'raw ws client, one message per event', target: 2 }],
  })
  await mine.close()
  await theirs.close()
}

/** One event at a time, hub -> spoke, ours and raw interleaved sample by sample. */
async function latency(samples: number) {
  const mine = await ours(1)
  const theirs = await raw(1)
  const spoke = mine.spokes[0]!
  const [ourTimes, rawTimes] = await interleavedLatency(
    [
      {
        name: 'eventwire hub',
        onArrival: async (callback) => {
          spoke.addEventListener('ping', (event) => callback(event.detail as number))
          await spoke.flush()
        },
        send: (sentAt) => mine.hub.dispatchEvent(new CustomEvent('ping', { detail: sentAt })),
      },
      {
        name: 'raw ws',
        onArrival: (callback) => {
          theirs.clients[0]!.on('message', (data) => callback(JSON.parse(String(data)) as number))
        },
        send: (sentAt) => theirs.serverSockets[0]!.send(JSON.stringify(sentAt)),
      },
    ],
    { samples },
  )
  console.log(
    `\nwebsocket: unloaded one-way latency hub -> spoke, ms (${samples} samples each after warm-up, interleaved)`,
  )
  console.log(`  eventwire hub   p50 ${ourTimes!.p50.toFixed(3)}   p99 ${ourTimes!.p99.toFixed(3)}`)
  console.log(`  raw ws          p50 ${rawTimes!.p50.toFixed(3)}   p99 ${rawTimes!.p99.toFixed(3)}`)
  console.log(
    `  p50 ratio eventwire / raw: ${(ourTimes!.p50 / rawTimes!.p50).toFixed(2)} (target within 1.10)`,
  )
  await mine.close()
  await theirs.close()
}

/** Heap after the sockets of a closed contender are really gone. */
async function settledHeap(): Promise<number> {
  await new Promise((resolve) => setTimeout(resolve, 200))
  collectGarbage()
  return process.memoryUsage().heapUsed
}

/** JS heap per idle connection, server and client sides together, raw ws first and then ours. */
async function idleMemory(count: number) {
  const rawBase = await settledHeap()
  const theirs = await raw(count)
  const withRaw = await settledHeap()
  await theirs.close()
  const ourBase = await settledHeap()
  const mine = await ours(count)
  await Promise.all(mine.spokes.map((spoke) => spoke.flush()))
  const withOurs = await settledHeap()
  await mine.close()
  const perConnection = (bytes: number) => `${(bytes / count / 1024).toFixed(1)} KiB`
  console.log(`\nwebsocket: JS heap per idle connection (${count} connections, both ends in this process)`)
  console.log(`  raw ws server + client         ${perConnection(withRaw - rawBase)}`)
  console.log(`  eventwire hub + client         ${perConnection(withOurs - ourBase)}`)
}

export async function run(): Promise<void> {
  await fanOut(1)
  await fanOut(10)
  await fanOut(100)
  await ingress()
  await latency(1_000)
  await idleMemory(500)
}
