/**
 * `npm run demo`: a small chat topology, printed as it runs.
 *
 * Without configuration it needs no external service: a hub and three spokes in this process, linked by
 * in-memory links that cross a macrotask per hop like a network. With `REDIS_URL` set, the same three
 * nodes are symmetric peers over that Redis instead. The application code below does not change.
 */
import { Redis } from 'ioredis'
import {
  createEvent,
  createMemoryConnector,
  createPubSub,
  type EventwireStats,
  type EventwireStatus,
  Hub,
  type NetworkEventTarget,
  Spoke,
  type TypedEvent,
} from '../src/index.js'

type ChatEvent = TypedEvent<'chat', { from: string; text: string }> | TypedEvent<'typing', { from: string }>

interface Topology {
  label: string
  nodes: Array<{ name: string; target: NetworkEventTarget<ChatEvent> }>
  close(): Promise<void>
}

const log = (line: string) => console.log(`${new Date().toISOString().slice(11, 23)}  ${line}`)
const onStatus = (name: string) => (status: EventwireStatus) => log(`[${name}] status ${status.type}`)

async function embedded(): Promise<Topology> {
  const hub = new Hub<ChatEvent>({ onStatus: onStatus('hub') })
  const connector = createMemoryConnector(hub)
  const spokes = ['ada', 'grace', 'linus'].map((name) => ({
    name,
    target: new Spoke<ChatEvent>({ connect: connector.connect, onStatus: onStatus(name) }),
  }))
  await Promise.all(spokes.map((spoke) => spoke.target.ready))
  return {
    label: 'embedded: core Hub + 3 Spokes over in-memory links (set REDIS_URL to use Redis)',
    nodes: [{ name: 'hub', target: hub }, ...spokes],
    close: async () => {
      await Promise.all(spokes.map((spoke) => spoke.target.close()))
      await hub.close()
    },
  }
}

async function overRedis(url: string): Promise<Topology> {
  const { createRedisEventTarget } = await import('../src/event-target-redis/index.js')
  const clients: Redis[] = []
  const client = () => {
    const redis = new Redis(url, { maxRetriesPerRequest: 2 })
    clients.push(redis)
    return redis
  }
  const nodes = ['ada', 'grace', 'linus'].map((name) => ({
    name,
    target: createRedisEventTarget<ChatEvent>({
      publishClient: client(),
      subscribeClient: client(),
      prefix: 'eventwire-demo:',
      onStatus: onStatus(name),
    }),
  }))
  await Promise.all(nodes.map((node) => node.target.ready))
  return {
    label: `redis: 3 symmetric peers on ${url}`,
    nodes,
    close: async () => {
      await Promise.all(nodes.map((node) => node.target.close()))
      await Promise.all(clients.map((redis) => redis.quit()))
    },
  }
}

function printStats(topology: Topology): void {
  const columns: Array<keyof EventwireStats> = [
    'dispatched',
    'delivered',
    'sent',
    'received',
    'dropped',
    'connections',
  ]
  console.log(`\n  ${'node'.padEnd(8)}${columns.map((c) => c.padStart(12)).join('')}`)
  for (const { name, target } of topology.nodes) {
    const stats = target.stats()
    console.log(`  ${name.padEnd(8)}${columns.map((c) => String(stats[c]).padStart(12)).join('')}`)
  }
}

async function main(): Promise<void> {
  const url = process.env.REDIS_URL
  const topology = url ? await overRedis(url) : await embedded()
  log(`topology ${topology.label}`)

  let stopping = false
  const stop = async () => {
    if (stopping) return
    stopping = true
    printStats(topology)
    await topology.close()
    log('closed cleanly')
  }
  process.once('SIGINT', () => void stop().then(() => process.exit(0)))

  // The application: every node listens with plain addEventListener...
  const speakers = topology.nodes.filter((node) => node.name !== 'hub')
  for (const { name, target } of topology.nodes) {
    target.addEventListener('chat', (event) =>
      log(`[${name}] got chat from ${event.detail.from}: ${event.detail.text}`),
    )
  }
  // ...and one node consumes a typed topic with createPubSub and `for await`.
  const listener = topology.nodes[0]!
  const pubsub = createPubSub<{ typing: [{ from: string }] }>({ eventTarget: listener.target })
  const typing = pubsub.subscribe('typing')
  const consuming = (async () => {
    for await (const { from } of typing) log(`[${listener.name}] ${from} is typing… (via createPubSub)`)
  })()
  await Promise.all(topology.nodes.map((node) => node.target.flush()))

  const lines = ['hello, topology', 'one dispatch, every node, exactly once', 'order per dispatcher is kept']
  for (const [i, text] of lines.entries()) {
    const speaker = speakers[i % speakers.length]!
    speaker.target.dispatchEvent(createEvent('typing', { from: speaker.name }))
    speaker.target.dispatchEvent(createEvent('chat', { from: speaker.name, text }))
    await new Promise((resolve) => setTimeout(resolve, 300))
  }
  await typing.return()
  await consuming
  await stop()
}

main().catch((error: unknown) => {
  console.error(error)
  process.exitCode = 1
})
