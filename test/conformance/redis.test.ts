import { Redis } from 'ioredis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createRedisEventTarget } from '../../src/event-target-redis/index.js'
import {
  conformanceCases,
  describeConformance,
  type TopologyContext,
  waitFor,
} from '../../src/testing/index.js'
import { RedisServer } from '../support/redis-server.js'
import { CHECKED_SCHEMAS, SCHEMA_LIBRARIES, type SchemaLibrary } from '../support/schemas.js'

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

// With schemas (`defineEvents`): there is no hub, so every peer checks what it receives (the default on
// Redis); peer 1 does not check what it dispatches, as any client of the server could publish anything.
// The whole suite with arktype's schema, and the schema tests with every library.
async function schemaTopology({ nodeCount, onErrorOf, schemas }: TopologyContext) {
  const clients: Redis[] = []
  const connect = () => {
    const client = new Redis(server.port, '127.0.0.1', { retryStrategy: () => 20 })
    clients.push(client)
    return client
  }
  const nodes = Array.from({ length: nodeCount }, (_, index) =>
    createRedisEventTarget({
      publishClient: connect(),
      subscribeClient: connect(),
      prefix: 'conformance-schemas:',
      onError: onErrorOf(index),
      events: schemas?.events,
      validate: { dispatched: schemas?.sender !== index },
    }),
  )
  await Promise.all(nodes.map((node) => node.ready))
  return {
    nodes,
    close: async () => {
      await Promise.all(nodes.map((node) => node.close()))
      await Promise.all(clients.map((client) => client.quit()))
    },
  }
}
const schemaCapabilities = (library: SchemaLibrary) =>
  ({ schema: CHECKED_SCHEMAS[library], dispatcher: 0, sender: 1 }) as const
describeConformance('redis, schemas (arktype)', schemaTopology, { schemas: schemaCapabilities('arktype') })
describe('conformance: redis, schema tests per library', () => {
  for (const library of SCHEMA_LIBRARIES) {
    for (const test of conformanceCases(schemaTopology, { schemas: schemaCapabilities(library) })) {
      if (test.name.startsWith('schemas:')) it(`${library}: ${test.name}`, () => test.run())
    }
  }
})
