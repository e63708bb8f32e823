/**
 * Redis: dispatch on node A -> listener on node B, through one real redis-server started here. Every
 * contender uses the same ioredis version and its own pair of connections. Throughput counts an event
 * once B's listener has it; latency is dispatch -> B's listener, measured on one clock.
 */

import { once } from 'node:events'
import { createRedisEventTarget as createYogaRedisEventTarget } from '@graphql-yoga/redis-event-target'
import { RedisPubSub } from 'graphql-redis-subscriptions'
import { Redis } from 'ioredis'
import { waitFor } from '../src/testing/index.js'
import { RedisServer } from '../test/support/redis-server.js'
import { type ClosablePair, compare, interleavedLatency, latencyProbe, pacedThroughput } from './harness.js'
import { redisPair } from './support/eventwire.js'

/** Events dispatched per tick: the burst a busy server produces between two I/O callbacks. */
const CHUNK = 100

async function yogaPair(port: number): Promise<ClosablePair> {
  const clients = Array.from({ length: 4 }, () => new Redis(port, '127.0.0.1'))
  const a = createYogaRedisEventTarget({ publishClient: clients[0]!, subscribeClient: clients[1]! })
  const b = createYogaRedisEventTarget({ publishClient: clients[2]!, subscribeClient: clients[3]! })
  return {
    name: 'yoga redis-event-target',
    send: (detail) => a.dispatchEvent(new CustomEvent('b2:tick', { detail })),
    onReceive: async (listener) => {
      b.addEventListener('b2:tick', (event) => listener((event as CustomEvent).detail))
      // yoga's target does not expose its subscribe promise: wait until Redis counts the subscriber.
      await waitFor(async () => (await clients[0]!.pubsub('NUMSUB', 'b2:tick'))[1] === 1, {
        timeoutMs: 5_000,
      })
    },
    close: async () => {
      for (const client of clients) client.disconnect()
    },
  }
}

async function graphqlRedisPair(port: number): Promise<ClosablePair> {
  const clients = Array.from({ length: 4 }, () => new Redis(port, '127.0.0.1'))
  // Subscribing before the ready check has run puts the connection in subscriber mode under ioredis's
  // INFO check, which then fails: connect first.
  await Promise.all(clients.map((client) => (client.status === 'ready' ? undefined : once(client, 'ready'))))
  const a = new RedisPubSub({ publisher: clients[0]!, subscriber: clients[1]! })
  const b = new RedisPubSub({ publisher: clients[2]!, subscriber: clients[3]! })
  return {
    name: 'graphql-redis-subscriptions',
    send: (detail) => void a.publish('b3:tick', detail),
    onReceive: async (listener) => {
      await b.subscribe('b3:tick', listener)
    },
    close: async () => {
      for (const client of clients) client.disconnect()
    },
  }
}

/** Ours with the prefix each contender's channels are told apart by. */
const oursPair = (port: number) => redisPair(port, 'b1:')
/** Ours with every message signed and verified (`auth: { keys }`): what the MAC costs. */
const oursSignedPair = (port: number) =>
  redisPair(port, 'b4:', { auth: { keys: ['bench-key-0123456789abcdef'] } }, 'eventwire redis signed')

const makers = [oursPair, yogaPair, graphqlRedisPair, oursSignedPair]

export async function run(): Promise<void> {
  const server = await RedisServer.start()
  try {
    const pairs = await Promise.all(makers.map((make) => make(server.port)))
    const contenders = await Promise.all(pairs.map((pair) => pacedThroughput(pair, CHUNK)))
    await compare({
      title: `redis: dispatch on A -> listener on B (${CHUNK} events per tick, one redis-server)`,
      unit: 'msg',
      batch: 2_000,
      contenders,
      ratios: [
        { ours: 'eventwire redis', theirs: 'yoga redis-event-target', target: 2 },
        { ours: 'eventwire redis', theirs: 'graphql-redis-subscriptions', target: 1.5 },
        { ours: 'eventwire redis signed', theirs: 'eventwire redis' },
        { ours: 'eventwire redis signed', theirs: 'yoga redis-event-target', target: 2 },
      ],
    })
    await Promise.all(pairs.map((pair) => pair.close()))

    console.log('\nredis: latency dispatch -> remote listener, ms p50 / p99 (contenders interleaved)')
    for (const [label, count, intervalMs] of [
      ['unloaded (one at a time)', 1_000, 0],
      ['moderate (1 event / ms)', 2_000, 1],
    ] as const) {
      const latencyPairs = await Promise.all(makers.map((make) => make(server.port)))
      const results = await interleavedLatency(latencyPairs.map(latencyProbe), { samples: count, intervalMs })
      const cells = latencyPairs.map(
        (pair, i) => `${pair.name} ${results[i]!.p50.toFixed(3)} / ${results[i]!.p99.toFixed(3)}`,
      )
      console.log(`  ${label.padEnd(26)}${cells.join('   ')}`)
      console.log(
        `  ${''.padEnd(26)}p50 ratio eventwire / yoga: ${(results[0]!.p50 / results[1]!.p50).toFixed(2)}`,
      )
      await Promise.all(latencyPairs.map((pair) => pair.close()))
    }
  } finally {
    await server.stop()
  }
}
