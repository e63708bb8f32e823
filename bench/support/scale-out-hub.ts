/**
 * One hub of bench/scale-out.ts, in a process of its own: `node scale-out-hub.mjs <mode> <redis port>
 * <prefix>`. A WebSocket hub with default options on a free loopback port; with mode `bridge` it is
 * joined to the others by `bridge(hub, redisTarget)` as docs/topologies.md showed before scale-out
 * existed, with mode `scale-out` by `scaleOut(hub, redisTarget)`.
 */
import { Redis } from 'ioredis'
import { bridge, scaleOut } from '../../src/bridge/index.js'
import { createRedisEventTarget } from '../../src/event-target-redis/index.js'
import { startHub } from './eventwire.js'
import { cpuMicros, type FromChild, type HubMode, type ToChild } from './scale-out-common.js'

const [mode, port, prefix] = process.argv.slice(2) as [HubMode, string, string]
const send = (message: FromChild) => process.send?.(message)

const running = await startHub()
const closers: Array<() => unknown> = []
if (mode !== 'alone') {
  const clients = [new Redis(Number(port), '127.0.0.1'), new Redis(Number(port), '127.0.0.1')]
  const peer = createRedisEventTarget({
    publishClient: clients[0]!,
    subscribeClient: clients[1]!,
    prefix,
    onError: (error) => send({ type: 'error', message: `redis: ${error.code} ${error.message}` }),
  })
  await peer.ready
  const link = mode === 'bridge' ? bridge(running.hub, peer) : scaleOut(running.hub, peer)
  closers.push(
    () => link.close(),
    () => peer.close(),
    () => {
      for (const client of clients) client.disconnect()
    },
  )
}

process.on('message', async (message: ToChild) => {
  if (message.type === 'usage') send({ type: 'usage', cpu: cpuMicros() })
  else if (message.type === 'close') {
    for (const close of closers.reverse()) await close()
    await running.close()
    process.disconnect()
  }
})
process.on('disconnect', () => process.exit(0))
send({ type: 'ready', url: running.url })
