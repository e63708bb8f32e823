/**
 * eventwire against NATS, which our users reach for as a message broker, on 127.0.0.1 with one real
 * redis-server and one real nats-server started here: A -> B through a broker (our Redis target against
 * a NATS publisher and a subscriber on a second connection), hub -> 10 subscribers (our WebSocket hub and
 * spokes against one NATS publisher and 10 subscriber connections), and unloaded latency A -> B (our
 * Redis target against NATS). Both sides carry the same JSON detail: NATS publishes
 * `JSON.stringify(detail)` and its subscribers parse each message, as our decoders do. Throughput counts
 * an event once every receiving listener has it. Needs Debian's `nats-server` on PATH; without it, the
 * benchmark prints why it skipped and returns.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process'
import { connect as tcpConnect } from 'node:net'
import { type NatsConnection, connect as natsConnect } from '@nats-io/transport-node'
import { waitFor } from '../src/testing/index.js'
import { freePort, RedisServer } from '../test/support/redis-server.js'
import {
  type ClosablePair,
  type Contender,
  compare,
  expectCount,
  interleavedLatency,
  latencyProbe,
  paced,
  pacedThroughput,
} from './harness.js'
import { redisPair, spokes, startHub } from './support/eventwire.js'

/** Events dispatched per tick: the burst a busy server produces between two I/O callbacks. */
const CHUNK = 100
/** Subscribers in the fan-out comparison. */
const FAN_OUT = 10
const LATENCY_SAMPLES = 1_000

interface Detail {
  n: number
  t: number
}

// --- nats-server -------------------------------------------------------------------------------------

/** The `nats-server --version` line, or undefined when the binary is not on PATH. */
export function natsServerVersion(): string | undefined {
  const probe = spawnSync('nats-server', ['--version'], { encoding: 'utf8' })
  if (probe.error !== undefined || probe.status !== 0) return undefined
  return probe.stdout.trim()
}

function acceptsTcp(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = tcpConnect(port, '127.0.0.1')
    socket.once('connect', () => {
      socket.destroy()
      resolve(true)
    })
    socket.once('error', () => {
      socket.destroy()
      resolve(false)
    })
  })
}

/**
 * A real nats-server on a free loopback port, stopped by its pid. Kept here, not in test/support: only
 * the benchmarks need it (this one and the NATS path of bench/realistic.ts).
 */
export class NatsServer {
  readonly port: number
  readonly #process: ChildProcess

  private constructor(port: number, child: ChildProcess) {
    this.port = port
    this.#process = child
  }

  static async start(): Promise<NatsServer> {
    const port = await freePort()
    const child = spawn('nats-server', ['-a', '127.0.0.1', '-p', String(port)], { stdio: 'ignore' })
    const server = new NatsServer(port, child)
    try {
      await waitFor(
        async () => {
          // A port taken between freePort() and the bind makes the server exit: fail loudly, not by timeout.
          if (child.exitCode !== null) throw new Error(`nats-server exited with ${child.exitCode}`)
          return acceptsTcp(port)
        },
        { timeoutMs: 10_000, intervalMs: 20, message: `nats-server on ${port}` },
      )
    } catch (error) {
      await server.stop()
      throw error
    }
    return server
  }

  get url(): string {
    return `127.0.0.1:${this.port}`
  }

  /** Kills the server by its pid and waits for the process to exit. */
  async stop(): Promise<void> {
    const child = this.#process
    if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return
    const exited = new Promise((resolve) => child.once('exit', resolve))
    process.kill(child.pid, 'SIGTERM')
    await exited
  }
}

/** No reconnects: the server goes away only at the end, and a reconnect loop would outlive the run. */
function natsClient(server: NatsServer): Promise<NatsConnection> {
  return natsConnect({ servers: server.url, reconnect: false })
}

// --- A -> B pairs --------------------------------------------------------------------------------------

/** One connection publishes, another is subscribed: two processes talking through the broker. */
async function natsPair(server: NatsServer, subject: string): Promise<ClosablePair> {
  const [a, b] = await Promise.all([natsClient(server), natsClient(server)])
  return {
    name: 'NATS',
    send: (detail) => a.publish(subject, JSON.stringify(detail)),
    onReceive: async (listener) => {
      b.subscribe(subject, {
        callback: (error, msg) => {
          if (error !== null) throw error
          listener(msg.json<Detail>())
        },
      })
      // flush() is a PING/PONG round trip after the SUB: once it resolves the server has the subscription.
      await b.flush()
    },
    close: async () => {
      await Promise.all([a.close(), b.close()])
    },
  }
}

async function throughput(redis: RedisServer, nats: NatsServer): Promise<void> {
  const pairs = [await redisPair(redis.port, 'n1:'), await natsPair(nats, 'n1.tick')]
  const contenders = await Promise.all(pairs.map((pair) => pacedThroughput(pair, CHUNK)))
  await compare({
    title: `nats: A -> B through a broker, ${CHUNK} events per tick (redis-server against nats-server)`,
    unit: 'msg',
    batch: 2_000,
    contenders,
    ratios: [{ ours: 'eventwire redis', theirs: 'NATS' }],
  })
  await Promise.all(pairs.map((pair) => pair.close()))
}

// --- fan-out -----------------------------------------------------------------------------------------

/** Hub -> 10 spokes against one NATS publisher -> 10 subscriber connections. */
async function fanOut(nats: NatsServer): Promise<void> {
  const mine = await startHub()
  const ourSpokes = await spokes(mine.url, FAN_OUT)
  let ourDeliveries = 0
  for (const spoke of ourSpokes) {
    spoke.addEventListener('tick', () => {
      ourDeliveries++
    })
  }
  // flush() resolves once the hub has the subscriptions, so the first event reaches every spoke.
  await Promise.all(ourSpokes.map((spoke) => spoke.flush()))

  const subject = 'n2.tick'
  const publisher = await natsClient(nats)
  // One connection per subscriber, as 10 separate processes would have; one shared connection would let
  // the server write each message once.
  const subscribers = await Promise.all(Array.from({ length: FAN_OUT }, () => natsClient(nats)))
  let natsDeliveries = 0
  for (const connection of subscribers) {
    connection.subscribe(subject, {
      callback: (error, msg) => {
        if (error !== null) throw error
        // Parse every message, as each spoke's decoder does: a subscriber that skips it pays less.
        msg.json<Detail>()
        natsDeliveries++
      },
    })
  }
  await Promise.all(subscribers.map((connection) => connection.flush()))

  let ourSent = 0
  let natsSent = 0
  const contenders: Contender[] = [
    {
      name: 'eventwire hub',
      run: (n) =>
        paced(
          n,
          () => mine.hub.dispatchEvent(new CustomEvent('tick', { detail: { n: ourSent++, t: 0 } })),
          () => ourDeliveries === ourSent * FAN_OUT,
          `eventwire hub: ${ourSent} events to ${FAN_OUT} spokes`,
        ),
      check: (total) => expectCount('eventwire hub', ourDeliveries, total * FAN_OUT),
    },
    {
      name: 'NATS',
      run: (n) =>
        paced(
          n,
          () => publisher.publish(subject, JSON.stringify({ n: natsSent++, t: 0 })),
          () => natsDeliveries === natsSent * FAN_OUT,
          `NATS: ${natsSent} events to ${FAN_OUT} subscribers`,
        ),
      check: (total) => expectCount('NATS', natsDeliveries, total * FAN_OUT),
    },
  ]
  await compare({
    title: `nats: fan-out to ${FAN_OUT} subscribers, ${CHUNK} events per tick (events/s, each delivered to every subscriber)`,
    unit: 'event',
    batch: 2_000,
    contenders,
    ratios: [{ ours: 'eventwire hub', theirs: 'NATS' }],
  })
  await Promise.all(ourSpokes.map((spoke) => spoke.close()))
  await mine.close()
  await Promise.all([publisher, ...subscribers].map((connection) => connection.close()))
}

// --- latency -----------------------------------------------------------------------------------------

async function latency(redis: RedisServer, nats: NatsServer): Promise<void> {
  // Fresh pairs with their own channels: the throughput listeners must not count these samples.
  const pairs = [await redisPair(redis.port, 'n3:'), await natsPair(nats, 'n3.sample')]
  const [ours, theirs] = await interleavedLatency(pairs.map(latencyProbe), { samples: LATENCY_SAMPLES })
  console.log(
    `\nnats: unloaded latency A -> B, ms (${LATENCY_SAMPLES} samples each after warm-up, interleaved)`,
  )
  console.log(`  eventwire redis   p50 ${ours!.p50.toFixed(3)}   p99 ${ours!.p99.toFixed(3)}`)
  console.log(`  NATS              p50 ${theirs!.p50.toFixed(3)}   p99 ${theirs!.p99.toFixed(3)}`)
  console.log(
    `  ratio eventwire / NATS (lower is better for us): p50 ${(ours!.p50 / theirs!.p50).toFixed(2)}, ` +
      `p99 ${(ours!.p99 / theirs!.p99).toFixed(2)}`,
  )
  await Promise.all(pairs.map((pair) => pair.close()))
}

export async function run(): Promise<void> {
  const version = natsServerVersion()
  if (version === undefined) {
    console.log(
      "nats: skipped, nats-server is not on PATH (install Debian's nats-server: apt-get install nats-server)",
    )
    return
  }
  console.log(`nats: ${version}`)
  const redis = await RedisServer.start()
  try {
    const nats = await NatsServer.start()
    try {
      await throughput(redis, nats)
      await fanOut(nats)
      await latency(redis, nats)
    } finally {
      await nats.stop()
    }
  } finally {
    await redis.stop()
  }
}
