/**
 * eventwire against Socket.IO, the library our users most often reach for, in one process on loopback:
 * hub -> N clients broadcast, client -> server ingress, scale-out across two servers over one real
 * redis-server (`scaleOut()` against `@socket.io/redis-adapter`), and unloaded one-way latency. Socket.IO's
 * clients use `{ transports: ['websocket'] }`, so neither side pays for HTTP long-polling. Socket.IO
 * writes one WebSocket message per event per client; ours go through the hub's per-tick batching and the
 * client's decoder. Throughput counts an event once every receiving listener has it.
 */
import { createServer } from 'node:http'
import { createAdapter } from '@socket.io/redis-adapter'
import { Redis } from 'ioredis'
import { Server as SocketIoServer, type Socket as SocketIoServerSocket } from 'socket.io'
import { type Socket as SocketIoClientSocket, io as socketIoClient } from 'socket.io-client'
import { scaleOut as joinHubs } from '../src/bridge/index.js'
import { createRedisEventTarget } from '../src/event-target-redis/index.js'
import { waitFor } from '../src/testing/index.js'
import { RedisServer } from '../test/support/redis-server.js'
import { type Contender, compare, expectCount, interleavedLatency, paced } from './harness.js'
import { listen, spokes, startHub } from './support/eventwire.js'

/** Events dispatched per tick: the burst a busy server produces between two I/O callbacks. */
const CHUNK = 100

interface Tick {
  n: number
}

/** Socket.IO's typed event maps, so no contender passes an untyped payload. */
interface ServerToClient {
  tick: (detail: Tick) => void
  /** Readiness probe across Redis, never counted. */
  probe: () => void
  /** Latency sample: the sender's `performance.now()`. */
  sample: (sentAt: number) => void
}
interface ClientToServer {
  tick: (detail: Tick) => void
  probe: () => void
}
type IoServer = SocketIoServer<ClientToServer, ServerToClient>
type IoServerSocket = SocketIoServerSocket<ClientToServer, ServerToClient>
type IoClient = SocketIoClientSocket<ServerToClient, ClientToServer>

interface IoHost {
  io: IoServer
  url: string
  /** Server-side sockets, in connection order. */
  sockets: IoServerSocket[]
  close(): Promise<void>
}

/**
 * A Socket.IO server with its defaults on a free loopback port. `setup` runs before it listens (to set
 * an adapter); `onConnection` runs synchronously for each new socket, so its handlers exist before the
 * client can send anything.
 */
async function startSocketIo(
  setup?: (io: IoServer) => void,
  onConnection?: (socket: IoServerSocket) => void,
): Promise<IoHost> {
  const server = createServer()
  const io: IoServer = new SocketIoServer(server)
  setup?.(io)
  const sockets: IoServerSocket[] = []
  io.on('connection', (socket) => {
    sockets.push(socket)
    onConnection?.(socket)
  })
  const port = await listen(server)
  return {
    io,
    url: `http://127.0.0.1:${port}`,
    sockets,
    close: async () => {
      // io.close() closes the engine, every socket still open, the adapter and the http server.
      await io.close()
      server.closeAllConnections()
    },
  }
}

/**
 * `forceNew` gives every client its own Manager and so its own WebSocket, as N separate users have;
 * without it clients of one URL could share a connection.
 */
async function socketIoClients(host: IoHost, count: number): Promise<IoClient[]> {
  const before = host.sockets.length
  const clients = await Promise.all(
    Array.from(
      { length: count },
      () =>
        new Promise<IoClient>((resolve, reject) => {
          const socket: IoClient = socketIoClient(host.url, { transports: ['websocket'], forceNew: true })
          socket.once('connect', () => resolve(socket))
          socket.once('connect_error', reject)
        }),
    ),
  )
  await waitFor(() => host.sockets.length === before + count, { timeoutMs: 10_000 })
  return clients
}

/** Disconnects the clients first, so the server's close has no live sockets to wait on. */
async function closeSocketIo(host: IoHost, clients: readonly IoClient[]): Promise<void> {
  for (const socket of clients) socket.disconnect()
  await waitFor(() => host.io.of('/').sockets.size === 0, { timeoutMs: 10_000 })
  await host.close()
}

/** Hub -> every client: `count` listeners each receive every event. */
async function fanOut(count: number): Promise<void> {
  const mine = await startHub()
  const ourSpokes = await spokes(mine.url, count)
  let ourDeliveries = 0
  for (const spoke of ourSpokes) {
    spoke.addEventListener('tick', () => {
      ourDeliveries++
    })
  }
  // flush() resolves once the hub has the subscriptions, so the first event reaches every spoke.
  await Promise.all(ourSpokes.map((spoke) => spoke.flush()))
  const theirs = await startSocketIo()
  const ioClients = await socketIoClients(theirs, count)
  let ioDeliveries = 0
  for (const socket of ioClients) {
    socket.on('tick', () => {
      ioDeliveries++
    })
  }
  let ourSent = 0
  let ioSent = 0
  const contenders: Contender[] = [
    {
      name: 'eventwire hub',
      run: (n) =>
        paced(
          n,
          () => mine.hub.dispatchEvent(new CustomEvent('tick', { detail: { n: ourSent++ } })),
          () => ourDeliveries === ourSent * count,
          `eventwire hub: ${ourSent} events to ${count} spokes`,
        ),
      check: (total) => expectCount('eventwire hub', ourDeliveries, total * count),
    },
    {
      name: 'Socket.IO io.emit',
      run: (n) =>
        paced(
          n,
          () => theirs.io.emit('tick', { n: ioSent++ }),
          () => ioDeliveries === ioSent * count,
          `Socket.IO io.emit: ${ioSent} events to ${count} clients`,
        ),
      check: (total) => expectCount('Socket.IO io.emit', ioDeliveries, total * count),
    },
  ]
  await compare({
    title: `socket.io: hub -> ${count} client(s), ${CHUNK} events per tick (events/s, each delivered to every client)`,
    unit: 'event',
    batch: count >= 100 ? 200 : 2_000,
    contenders,
    ratios: [{ ours: 'eventwire hub', theirs: 'Socket.IO io.emit' }],
  })
  await Promise.all(ourSpokes.map((spoke) => spoke.close()))
  await mine.close()
  await closeSocketIo(theirs, ioClients)
}

/** One client -> the server's listener. */
async function ingress(): Promise<void> {
  const mine = await startHub()
  let ourReceived = 0
  mine.hub.addEventListener('tick', () => {
    ourReceived++
  })
  const [spoke] = await spokes(mine.url, 1)
  let ioReceived = 0
  const theirs = await startSocketIo(undefined, (socket) => {
    socket.on('tick', () => {
      ioReceived++
    })
  })
  const [client] = await socketIoClients(theirs, 1)
  let ourSent = 0
  let ioSent = 0
  await compare({
    title: `socket.io: client -> server, ${CHUNK} events per tick (messages/s)`,
    unit: 'msg',
    batch: 2_000,
    contenders: [
      {
        name: 'eventwire client',
        run: (n) =>
          paced(
            n,
            () => spoke!.dispatchEvent(new CustomEvent('tick', { detail: { n: ourSent++ } })),
            () => ourReceived === ourSent,
            `eventwire client: ${ourSent} events`,
          ),
        check: (total) => expectCount('eventwire client', ourReceived, total),
      },
      {
        name: 'socket.io-client emit',
        run: (n) =>
          paced(
            n,
            () => client!.emit('tick', { n: ioSent++ }),
            () => ioReceived === ioSent,
            `socket.io-client emit: ${ioSent} events`,
          ),
        check: (total) => expectCount('socket.io-client emit', ioReceived, total),
      },
    ],
    ratios: [{ ours: 'eventwire client', theirs: 'socket.io-client emit' }],
  })
  await spoke!.close()
  await mine.close()
  await closeSocketIo(theirs, [client!])
}

/**
 * Client on server 1 -> client on server 2 through one redis-server. Ours: spoke -> hub 1 -> scaleOut ->
 * Redis target -> hub 2 -> spoke, as in bench/topologies.ts. Theirs: the documented Socket.IO pattern,
 * a handler that re-broadcasts what a client sent, with the Redis adapter carrying it to server 2.
 */
async function scaleOut(): Promise<void> {
  const redis = await RedisServer.start()
  const redisClients: Redis[] = []
  const redisClient = () => {
    const client = new Redis(redis.port, '127.0.0.1')
    redisClients.push(client)
    return client
  }

  const hubs = [await startHub(), await startHub()] as const
  const peers = hubs.map(({ hub }) => {
    const peer = createRedisEventTarget({
      publishClient: redisClient(),
      subscribeClient: redisClient(),
      prefix: 'bench:',
    })
    return { peer, link: joinHubs(hub, peer) }
  })
  await Promise.all(peers.map(({ peer }) => peer.ready))
  const [from] = await spokes(hubs[0].url, 1)
  const [to] = await spokes(hubs[1].url, 1)
  let ourSent = 0
  let ourReceived = 0
  to!.addEventListener('tick', () => {
    ourReceived++
  })
  await to!.flush()
  // Hub 2 has subscribed on Redis once the channel has its one subscriber: nothing sent before is lost.
  await waitFor(
    async () => Number((await redis.cli('PUBSUB', 'NUMSUB', 'bench:tick')).split('\n')[1]) === 1,
    { timeoutMs: 5_000 },
  )

  const relay = (socket: IoServerSocket) => {
    socket.on('tick', (detail) => socket.broadcast.emit('tick', detail))
    socket.on('probe', () => socket.broadcast.emit('probe'))
  }
  const withRedis = (io: IoServer) => {
    io.adapter(createAdapter(redisClient(), redisClient()))
  }
  const servers = [await startSocketIo(withRedis, relay), await startSocketIo(withRedis, relay)] as const
  const [sender] = await socketIoClients(servers[0], 1)
  const [receiver] = await socketIoClients(servers[1], 1)
  let ioSent = 0
  let ioReceived = 0
  receiver!.on('tick', () => {
    ioReceived++
  })
  // The adapter subscribes without telling when it is done: probe until one crosses Redis. Probes are a
  // separate event, so the counted ticks stay exact; the pattern subscription covers every event.
  let probed = false
  receiver!.once('probe', () => {
    probed = true
  })
  await waitFor(
    () => {
      if (!probed) sender!.emit('probe')
      return probed
    },
    { timeoutMs: 5_000, intervalMs: 20, message: 'Socket.IO probe across Redis' },
  )

  await compare({
    title: `socket.io: scale-out, client on server 1 -> Redis -> client on server 2, ${CHUNK} events per tick (msg/s)`,
    unit: 'msg',
    // Large batches, as in bench/topologies.ts: each run waits for its last event through Redis.
    batch: 20_000,
    contenders: [
      {
        name: 'eventwire hub 1 -> Redis -> hub 2',
        run: (n) =>
          paced(
            n,
            () => from!.dispatchEvent(new CustomEvent('tick', { detail: { n: ourSent++ } })),
            () => ourReceived === ourSent,
            `eventwire scale-out: ${ourSent} events`,
          ),
        check: (total) => expectCount('eventwire scale-out', ourReceived, total),
      },
      {
        name: 'Socket.IO redis-adapter',
        run: (n) =>
          paced(
            n,
            () => sender!.emit('tick', { n: ioSent++ }),
            () => ioReceived === ioSent,
            `Socket.IO scale-out: ${ioSent} events`,
          ),
        check: (total) => expectCount('Socket.IO scale-out', ioReceived, total),
      },
    ],
    ratios: [{ ours: 'eventwire hub 1 -> Redis -> hub 2', theirs: 'Socket.IO redis-adapter' }],
  })

  await Promise.all([from!.close(), to!.close()])
  for (const { peer, link } of peers) {
    link.close()
    await peer.close()
  }
  await Promise.all(hubs.map((h) => h.close()))
  await closeSocketIo(servers[0], [sender!])
  await closeSocketIo(servers[1], [receiver!])
  // QUIT, not disconnect(): the adapter's close leaves commands in flight (its UNSUBSCRIBEs), and
  // disconnect() would reject them where nobody listens.
  await Promise.all(redisClients.map((client) => client.quit().catch(() => 'closed')))
  await redis.stop()
}

/** One event at a time, hub -> client, ours and Socket.IO interleaved sample by sample. */
async function latency(samples: number): Promise<void> {
  const mine = await startHub()
  const [spoke] = await spokes(mine.url, 1)
  const theirs = await startSocketIo()
  const [client] = await socketIoClients(theirs, 1)
  const [ourTimes, ioTimes] = await interleavedLatency(
    [
      {
        name: 'eventwire hub',
        onArrival: async (callback) => {
          spoke!.addEventListener('sample', (event) => callback(event.detail as number))
          await spoke!.flush()
        },
        send: (sentAt) => mine.hub.dispatchEvent(new CustomEvent('sample', { detail: sentAt })),
      },
      {
        name: 'Socket.IO',
        onArrival: (callback) => {
          client!.on('sample', callback)
        },
        send: (sentAt) => theirs.io.emit('sample', sentAt),
      },
    ],
    { samples },
  )
  console.log(
    `\nsocket.io: unloaded one-way latency hub -> client, ms (${samples} samples each after warm-up, interleaved)`,
  )
  console.log(`  eventwire hub   p50 ${ourTimes!.p50.toFixed(3)}   p99 ${ourTimes!.p99.toFixed(3)}`)
  console.log(`  Socket.IO       p50 ${ioTimes!.p50.toFixed(3)}   p99 ${ioTimes!.p99.toFixed(3)}`)
  console.log(`  p50 ratio eventwire / Socket.IO: ${(ourTimes!.p50 / ioTimes!.p50).toFixed(2)}`)
  await spoke!.close()
  await mine.close()
  await closeSocketIo(theirs, [client!])
}

export async function run(): Promise<void> {
  await fanOut(1)
  await fanOut(10)
  await fanOut(100)
  await ingress()
  await scaleOut()
  await latency(1_000)
}
