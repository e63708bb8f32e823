import { Redis } from 'ioredis'
import { afterAll, beforeAll, expect } from 'vitest'
import { createRedisEventTarget } from '../../src/event-target-redis/index.js'
import { describeConformance, waitFor } from '../../src/testing/index.js'
import { RedisServer } from '../support/redis-server.js'

let server: RedisServer
beforeAll(async () => {
  server = await RedisServer.start()
})
afterAll(async () => {
  await server?.stop()
})

// Three symmetric peers, each with its own pair of connections to one real redis-server. An interruption
// is both of a peer's connections killed by the server (CLIENT KILL); ioredis reconnects them.
describeConformance(
  'redis',
  async ({ nodeCount, onError }) => {
    const pairs: Array<[Redis, Redis]> = []
    const connect = (connectionName: string) =>
      new Redis(server.port, '127.0.0.1', { connectionName, retryStrategy: () => 20 })
    const nodes = Array.from({ length: nodeCount }, (_, index) => {
      const publishClient = connect(`conformance-${index}-publish`)
      const subscribeClient = connect(`conformance-${index}-subscribe`)
      pairs.push([publishClient, subscribeClient])
      return createRedisEventTarget({ publishClient, subscribeClient, prefix: 'conformance:', onError })
    })
    await Promise.all(nodes.map((node) => node.ready))
    return {
      nodes,
      interrupt: async (index) => {
        const pair = pairs[index]!
        // A subscribed connection cannot ask for its own id: find both by the names they gave Redis.
        const list = await server.cli('CLIENT', 'LIST')
        const ids = list
          .split('\n')
          .filter((line) => line.includes(` name=conformance-${index}-`))
          .map((line) => /\bid=(\d+)/.exec(line)![1]!)
        expect(ids).toHaveLength(2)
        // Seen by the close events, not by polling the status: with a 20 ms retry, a client can be back
        // before a poll looks.
        let closed = 0
        for (const client of pair) client.once('close', () => closed++)
        for (const id of ids) await server.cli('CLIENT', 'KILL', 'ID', id)
        await waitFor(() => closed === pair.length, { timeoutMs: 5_000, message: 'both connections closed' })
      },
      close: async () => {
        await Promise.all(nodes.map((node) => node.close()))
        await Promise.all(pairs.flat().map((client) => client.quit()))
      },
    }
  },
  { interruptible: [0, 1] },
)
