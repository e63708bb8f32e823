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

// The whole conformance suite with `history` on every type: every event is appended and published by
// the script, every frame carries its position, and an interruption is recovered from the streams.
let run = 0
describeConformance(
  'redis with history',
  async ({ nodeCount, onError }) => {
    run++
    const pairs: Array<[Redis, Redis]> = []
    const connect = (connectionName: string) =>
      new Redis(server.port, '127.0.0.1', { connectionName, retryStrategy: () => 20 })
    const nodes = Array.from({ length: nodeCount }, (_, index) => {
      const publishClient = connect(`history-${run}-${index}-publish`)
      const subscribeClient = connect(`history-${run}-${index}-subscribe`)
      pairs.push([publishClient, subscribeClient])
      return createRedisEventTarget({
        publishClient,
        subscribeClient,
        prefix: `conformance-history-${run}:`,
        history: { types: () => true },
        onError,
      })
    })
    await Promise.all(nodes.map((node) => node.ready))
    return {
      nodes,
      interrupt: async (index) => {
        const pair = pairs[index]!
        const list = await server.cli('CLIENT', 'LIST')
        const ids = list
          .split('\n')
          .filter((line) => line.includes(` name=history-${run}-${index}-`))
          .map((line) => /\bid=(\d+)/.exec(line)![1]!)
        expect(ids).toHaveLength(2)
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
