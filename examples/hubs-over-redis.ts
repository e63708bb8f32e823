// Two WebSocket hubs that behave as one, joined over Redis by scaleOut; a spoke on each.
// Run: REDIS_URL=redis://127.0.0.1:6379 npx tsx examples/hubs-over-redis.ts
import { createServer } from 'node:http'
import { Redis } from 'ioredis'
import { scaleOut } from '../src/bridge/index.js'
import { createRedisEventTarget } from '../src/event-target-redis/index.js'
import { createWebSocketClientEventTarget } from '../src/event-target-websocket-client/index.js'
import { createWebSocketServerEventTarget } from '../src/event-target-websocket-server/index.js'
import { createEvent } from '../src/index.js'

const url = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'
async function scaledHub() {
  const hub = createWebSocketServerEventTarget()
  const server = createServer()
  hub.attach(server, { path: '/ws' })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const redis = createRedisEventTarget({
    publishClient: new Redis(url),
    subscribeClient: new Redis(url),
    prefix: 'hubs:',
  })
  scaleOut(hub, redis)
  return `ws://127.0.0.1:${(server.address() as { port: number }).port}/ws`
}
const [one, two] = [await scaledHub(), await scaledHub()]
const a = createWebSocketClientEventTarget({ url: [one, two] })
const b = createWebSocketClientEventTarget({ url: [two, one] })
b.addEventListener('chat', (event) => {
  console.log('spoke on hub 2 got', event.detail)
  process.exit(0)
})
await Promise.all([a.ready, b.flush()])
await new Promise((resolve) => setTimeout(resolve, 100)) // let hub 2's bridge subscribe on Redis
a.dispatchEvent(createEvent('chat', 'hello from a spoke on hub 1'))
