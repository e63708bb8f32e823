// Symmetric peers over Redis. Run: REDIS_URL=redis://127.0.0.1:6379 npx tsx examples/redis-peers.ts
import { Redis } from 'ioredis'
import { createRedisEventTarget } from '../src/event-target-redis/index.js'
import { createEvent } from '../src/index.js'

const url = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'
const peer = (name: string) => {
  const target = createRedisEventTarget({
    publishClient: new Redis(url),
    subscribeClient: new Redis(url),
    prefix: 'example:',
  })
  target.addEventListener('greeting', (event) => console.log(`${name} got`, event.detail))
  return target
}
const [a, b] = [peer('a'), peer('b')]
await Promise.all([a.ready, b.ready, a.flush(), b.flush()])
a.dispatchEvent(createEvent('greeting', 'hello from a'))
b.dispatchEvent(createEvent('greeting', 'hello from b'))
await Promise.all([a.flush(), b.flush()])
setTimeout(() => process.exit(0), 200)
