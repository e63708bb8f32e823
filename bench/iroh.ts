/**
 * iroh: hub -> spoke over real endpoints on loopback (minimal preset, no relay, no discovery), in one
 * process. "naive" writes each small message to the stream on its own (its frame, length prefix,
 * `writeAll`) and decodes each on arrival; ours goes through the Hub, its per-tick batching, one stream
 * write per batch, compression and the Spoke. Throughput counts an event once the receiving listener has
 * it. Latency is a round trip spoke -> hub listener -> spoke, beside the WebSocket transport's.
 */
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { performance as nodePerformance } from 'node:perf_hooks'
import type { RecvStream, SendStream } from '@number0/iroh'
import { createIrohHubEventTarget } from '../src/event-target-iroh-hub/index.js'
import { createIrohSpokeEventTarget } from '../src/event-target-iroh-spoke/index.js'
import { createWebSocketClientEventTarget } from '../src/event-target-websocket-client/index.js'
import { createWebSocketServerEventTarget } from '../src/event-target-websocket-server/index.js'
import type { NetworkEventTarget, TypedEvent } from '../src/index.js'
import { waitFor } from '../src/testing/index.js'
import { encodeLengthPrefixed, LengthPrefixedDecoder } from '../src/transport/index.js'
import { alpnBytes, bindHubEndpoint, bindLoopbackEndpoint, loopbackAddr } from '../test/support/iroh.js'
import { compare, interleavedLatency, pacedThroughput, type SendReceivePair } from './harness.js'

/** Events dispatched per tick: the burst a busy server produces between two I/O callbacks. */
const CHUNK = 100
const utf8 = new TextEncoder()
const fromUtf8 = new TextDecoder()

interface Detail {
  n: number
  t: number
}

interface Pair extends SendReceivePair {
  close(): Promise<void>
}

/** Hub on one endpoint, spoke on another; the hub dispatches, the spoke listens. */
async function oursPair(name: string, compress: boolean): Promise<Pair> {
  const hubEndpoint = await bindHubEndpoint()
  const spokeEndpoint = await bindLoopbackEndpoint()
  const hub = createIrohHubEventTarget({ endpoint: hubEndpoint, compress })
  const spoke = createIrohSpokeEventTarget({
    endpoint: spokeEndpoint,
    hub: loopbackAddr(hubEndpoint),
    heartbeatIntervalMs: 0,
    compress,
  })
  await spoke.ready
  return {
    name,
    send: (detail) => hub.dispatchEvent(new CustomEvent('tick', { detail })),
    onReceive: async (listener) => {
      spoke.addEventListener('tick', (event) => listener(event.detail as Detail))
      await spoke.flush()
    },
    close: async () => {
      await spoke.close()
      await hub.close()
      await Promise.all([spokeEndpoint.close(), hubEndpoint.close()])
    },
  }
}

function toNumbers(bytes: Uint8Array): number[] {
  const out = new Array<number>(bytes.length)
  for (let i = 0; i < bytes.length; i++) out[i] = bytes[i]!
  return out
}

/**
 * One raw stream: each message is its own frame and its own `writeAll`, issued without waiting (the
 * cheapest naive form; the binding does not promise the order of concurrent writes). Conversions use the
 * fast indexed loop, so the ratio measures batching and compression, not a slow conversion.
 */
async function naivePair(): Promise<Pair> {
  const hubEndpoint = await bindHubEndpoint()
  const spokeEndpoint = await bindLoopbackEndpoint()
  const accepted = (async () => {
    const incoming = await hubEndpoint.acceptNext()
    const connection = await (await incoming!.accept()).connect()
    return connection.acceptBi()
  })()
  const connection = await spokeEndpoint.connect(loopbackAddr(hubEndpoint), alpnBytes())
  const dialed = await connection.openBi()
  await dialed.send.writeAll([0, 0, 0, 0]) // a stream is announced by its first bytes
  const stream = await accepted
  const send: SendStream = stream.send
  const recv: RecvStream = dialed.recv
  const listeners: Array<(detail: Detail) => void> = []
  void (async () => {
    const decoder = new LengthPrefixedDecoder(1 << 30)
    for (;;) {
      const data = await recv.read(64 * 1024).catch(() => [] as number[])
      if (data.length === 0) return
      const bytes = new Uint8Array(data.length)
      for (let i = 0; i < data.length; i++) bytes[i] = data[i]!
      decoder.push(bytes, (payload) => {
        const frame = JSON.parse(fromUtf8.decode(payload)) as [number, string, string, Detail]
        for (const listener of listeners) listener(frame[3])
      })
    }
  })()
  return {
    name: 'naive: one writeAll per message',
    send: (detail) => {
      const frame = utf8.encode(JSON.stringify([1, 'tick', 'naive-hub', detail]))
      void send.writeAll(toNumbers(encodeLengthPrefixed(frame)))
    },
    onReceive: async (listener) => {
      listeners.push(listener)
    },
    close: async () => {
      await Promise.all([spokeEndpoint.close(), hubEndpoint.close()])
    },
  }
}

interface RoundTrip {
  name: string
  /** Dispatches a ping on the spoke; `onPong` hears the hub's answer on the spoke. */
  ping(t: number): void
  onPong(listener: (t: number) => void): void
  close(): Promise<void>
}

/** spoke -> hub listener -> hub dispatch -> spoke listener. */
async function roundTrip(
  name: string,
  hub: NetworkEventTarget<TypedEvent>,
  spoke: NetworkEventTarget<TypedEvent>,
  close: () => Promise<void>,
): Promise<RoundTrip> {
  hub.addEventListener('ping', (event) =>
    hub.dispatchEvent(new CustomEvent('pong', { detail: event.detail })),
  )
  const listeners: Array<(t: number) => void> = []
  spoke.addEventListener('pong', (event) => {
    for (const listener of listeners) listener(event.detail as number)
  })
  await spoke.flush()
  return {
    name,
    ping: (t) => spoke.dispatchEvent(new CustomEvent('ping', { detail: t })),
    onPong: (listener) => listeners.push(listener),
    close,
  }
}

async function irohRoundTrip(): Promise<RoundTrip> {
  const hubEndpoint = await bindHubEndpoint()
  const spokeEndpoint = await bindLoopbackEndpoint()
  const hub = createIrohHubEventTarget({ endpoint: hubEndpoint })
  const spoke = createIrohSpokeEventTarget({
    endpoint: spokeEndpoint,
    hub: loopbackAddr(hubEndpoint),
    heartbeatIntervalMs: 0,
  })
  await spoke.ready
  return roundTrip('eventwire iroh', hub, spoke, async () => {
    await spoke.close()
    await hub.close()
    await Promise.all([spokeEndpoint.close(), hubEndpoint.close()])
  })
}

async function webSocketRoundTrip(): Promise<RoundTrip> {
  const hub = createWebSocketServerEventTarget()
  const server = createServer()
  hub.attach(server, { path: '/ws' })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  const spoke = createWebSocketClientEventTarget({ url: `ws://127.0.0.1:${port}/ws`, heartbeatIntervalMs: 0 })
  await spoke.ready
  return roundTrip('eventwire websocket', hub, spoke, async () => {
    await spoke.close()
    await hub.close()
    server.closeAllConnections()
    server.close()
  })
}

/** The binding's floor: an 8-byte frame written on a raw stream and echoed back by the other side. */
async function rawIrohRoundTrip(): Promise<RoundTrip> {
  const hubEndpoint = await bindHubEndpoint()
  const spokeEndpoint = await bindLoopbackEndpoint()
  const accepted = (async () => {
    const incoming = await hubEndpoint.acceptNext()
    return (await (await incoming!.accept()).connect()).acceptBi()
  })()
  const connection = await spokeEndpoint.connect(loopbackAddr(hubEndpoint), alpnBytes())
  const dialed = await connection.openBi()
  const send = dialed.send
  await send.writeAll(toNumbers(encodeLengthPrefixed(new Uint8Array(8))))
  const echo = await accepted
  const echoSend = echo.send
  const echoRecv = echo.recv
  void (async () => {
    for (;;) {
      const data = await echoRecv.read(64 * 1024).catch(() => [] as number[])
      if (data.length === 0) return
      await echoSend.writeAll(data).catch(() => {})
    }
  })()
  const listeners: Array<(t: number) => void> = []
  const recv = dialed.recv
  void (async () => {
    const decoder = new LengthPrefixedDecoder(1024)
    for (;;) {
      const data = await recv.read(64 * 1024).catch(() => [] as number[])
      if (data.length === 0) return
      decoder.push(new Uint8Array(data), (payload) => {
        const t = new DataView(payload.buffer, payload.byteOffset, 8).getFloat64(0)
        if (t !== 0) for (const listener of listeners) listener(t)
      })
    }
  })()
  return {
    name: 'raw iroh echo',
    ping: (t) => {
      const payload = new Uint8Array(8)
      new DataView(payload.buffer).setFloat64(0, t)
      void send.writeAll(toNumbers(encodeLengthPrefixed(payload)))
    },
    onPong: (listener) => listeners.push(listener),
    close: async () => {
      await Promise.all([spokeEndpoint.close(), hubEndpoint.close()])
    },
  }
}

/** What the binding costs on the JS thread: the figures the transport's design rests on. */
async function bindingCosts(): Promise<void> {
  const hubEndpoint = await bindHubEndpoint()
  const spokeEndpoint = await bindLoopbackEndpoint()
  const accepted = (async () => {
    const incoming = await hubEndpoint.acceptNext()
    return (await (await incoming!.accept()).connect()).acceptBi()
  })()
  const connection = await spokeEndpoint.connect(loopbackAddr(hubEndpoint), alpnBytes())
  const { send } = await connection.openBi()
  await send.writeAll([0])
  const { recv } = await accepted
  let received = 0
  const reading = (async () => {
    for (;;) {
      const data = await recv.read(64 * 1024).catch(() => [] as number[])
      if (data.length === 0) return
      received += data.length
    }
  })()
  const written = () => waitFor(() => received >= expected, { timeoutMs: 60_000, intervalMs: 1 })
  let expected = 1

  /** JS-thread time of `calls` writeAll calls of `size` bytes (the call itself converts the array). */
  async function writeCost(size: number, calls: number): Promise<number> {
    const numbers = new Array<number>(size).fill(97)
    let busy = 0
    for (let i = 0; i < calls; i++) {
      const start = performance.now()
      const write = send.writeAll(numbers)
      busy += performance.now() - start
      await write
    }
    expected += size * calls
    await written()
    return (busy * 1e6) / calls // ns per call
  }
  await writeCost(16, 200) // warm-up
  const smallCall = await writeCost(16, 2_000)
  const bigCall = await writeCost(64 * 1024, 40)
  const perByte = (bigCall - smallCall) / (64 * 1024 - 16)

  // Reading: event-loop busy time while the other side writes 4 MiB in 64 KiB calls.
  const block = new Array<number>(64 * 1024).fill(97)
  const before = nodePerformance.eventLoopUtilization()
  const startedAt = received
  let writeBusy = 0
  for (let i = 0; i < 64; i++) {
    const start = performance.now()
    const write = send.writeAll(block)
    writeBusy += performance.now() - start
    await write
  }
  expected += 64 * block.length
  await written()
  const busy = nodePerformance.eventLoopUtilization(before).active - writeBusy
  const readPerByte = (busy * 1e6) / (received - startedAt)

  const buffer = Buffer.alloc(64 * 1024, 97)
  const convert = (label: string, fn: () => unknown) => {
    const start = performance.now()
    for (let i = 0; i < 50; i++) fn()
    return `${label} ${(((performance.now() - start) * 1e6) / 50 / buffer.length).toFixed(1)} ns/B`
  }
  const loop = convert('indexed loop', () => toNumbers(buffer))
  const from = convert('Array.from', () => Array.from(buffer))
  console.log('\niroh binding costs on the JS thread (this machine, this run)')
  console.log(`  writeAll of 16 B: ${(smallCall / 1000).toFixed(1)} µs per call`)
  console.log(`  writeAll per byte (64 KiB calls): ${perByte.toFixed(0)} ns`)
  console.log(`  read per byte (64 KiB reads, incl. the array it returns): ${readPerByte.toFixed(0)} ns`)
  console.log(`  Buffer -> Array<number>: ${loop}, ${from}`)
  await Promise.all([spokeEndpoint.close(), hubEndpoint.close()])
  await reading
}

export async function run(): Promise<void> {
  if (process.env.EVENTWIRE_NETNS !== '1') {
    console.log('iroh: skipped outside the loopback-only network namespace (run through npm run bench)')
    return
  }
  await bindingCosts()

  const pairs = [
    await oursPair('eventwire iroh', true),
    await oursPair('eventwire iroh, compress off', false),
    await naivePair(),
  ]
  const contenders = []
  for (const pair of pairs) contenders.push(await pacedThroughput(pair, CHUNK))
  await compare({
    title: `iroh: hub -> spoke, ${CHUNK} small events per tick, real endpoints on loopback`,
    unit: 'msg',
    batch: 2_000,
    contenders,
    ratios: [
      { ours: 'eventwire iroh', theirs: 'naive: one writeAll per message', target: 2 },
      { ours: 'eventwire iroh, compress off', theirs: 'naive: one writeAll per message' },
      { ours: 'eventwire iroh', theirs: 'eventwire iroh, compress off' },
    ],
  })
  await Promise.all(pairs.map((pair) => pair.close()))

  console.log('\niroh: round trip spoke -> hub -> spoke, ms p50 / p99 (contenders interleaved)')
  for (const [label, count, intervalMs] of [
    ['unloaded (one at a time)', 1_000, 0],
    ['moderate (1 ping / ms)', 2_000, 1],
  ] as const) {
    const trips = [await irohRoundTrip(), await rawIrohRoundTrip(), await webSocketRoundTrip()]
    const results = await interleavedLatency(
      trips.map((trip) => ({ name: trip.name, onArrival: trip.onPong, send: trip.ping })),
      { samples: count, intervalMs },
    )
    const cells = trips.map(
      (trip, i) => `${trip.name} ${results[i]!.p50.toFixed(3)} / ${results[i]!.p99.toFixed(3)}`,
    )
    console.log(`  ${label.padEnd(26)}${cells.join('   ')}`)
    await Promise.all(trips.map((trip) => trip.close()))
  }
}
