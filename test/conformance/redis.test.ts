import { Redis } from 'ioredis'
import { afterAll, beforeAll } from 'vitest'
import { createRedisEventTarget } from '../../src/event-target-redis/index.js'
import { describeConformance } from '../../src/testing/index.js'
import { RedisServer } from '../support/redis-server.js'

let server: RedisServer
beforeAll(async () => {
  server = await RedisServer.start()
})
afterAll(async () => {
  await server?.stop()
})

// Three symmetric peers, each with its own pair of connections to one real redis-server.
describeConformance('redis', async ({ nodeCount, onError }) => {
  const clients: Redis[] = []
  const nodes = Array.from({ length: nodeCount }, () => {
    const publishClient = new Redis(server.port, '127.0.0.1')
    const subscribeClient = new Redis(server.port, '127.0.0.1')
    clients.push(publishClient, subscribeClient)
    return createRedisEventTarget({ publishClient, subscribeClient, prefix: 'conformance:', onError })
  })
  await Promise.all(nodes.map((node) => node.ready))
  return {
    nodes,
    close: async () => {
      await Promise.all(nodes.map((node) => node.close()))
      await Promise.all(clients.map((client) => client.quit()))
    },
  }
})
