/**
 * Our side of the benchmarks, set up the same way wherever it is compared: a WebSocket hub on a plain
 * Node server, its spokes, and two Redis peers. Not a benchmark itself (bench/index.ts runs only the
 * files directly in bench/).
 */
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { Redis } from 'ioredis'
import { createRedisEventTarget, type RedisEventTargetOptions } from '../../src/event-target-redis/index.js'
import {
  createWebSocketClientEventTarget,
  type WebSocketClientEventTarget,
} from '../../src/event-target-websocket-client/index.js'
import {
  createWebSocketServerEventTarget,
  type WebSocketServerEventTarget,
} from '../../src/event-target-websocket-server/index.js'
import type { ClosablePair } from '../harness.js'

/** Listens on a free loopback port and returns it. */
export async function listen(server: Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return (server.address() as AddressInfo).port
}

export interface RunningHub {
  hub: WebSocketServerEventTarget
  url: string
  close(): Promise<void>
}

/** A WebSocket hub attached to a plain Node server on a free loopback port, at `/ws`. */
export async function startHub(): Promise<RunningHub> {
  const hub = createWebSocketServerEventTarget()
  const server = createServer()
  hub.attach(server, { path: '/ws' })
  const port = await listen(server)
  return {
    hub,
    url: `ws://127.0.0.1:${port}/ws`,
    close: async () => {
      await hub.close()
      server.closeAllConnections()
      server.close()
    },
  }
}

/**
 * `count` spokes of the hub at `url`, connected. Heartbeats are off: no peer compared here pings within a
 * run either (Socket.IO every 25 s, NATS every 2 minutes, raw sockets never).
 */
export async function spokes(url: string, count: number): Promise<WebSocketClientEventTarget[]> {
  const list = Array.from({ length: count }, () =>
    createWebSocketClientEventTarget({ url, heartbeatIntervalMs: 0 }),
  )
  await Promise.all(list.map((spoke) => spoke.ready))
  return list
}

/** Node A dispatches, node B listens; each has its own publish and subscribe connection. */
export async function redisPair(
  port: number,
  prefix: string,
  options: Pick<RedisEventTargetOptions, 'auth'> = {},
  name = 'eventwire redis',
): Promise<ClosablePair> {
  const clients = Array.from({ length: 4 }, () => new Redis(port, '127.0.0.1'))
  const a = createRedisEventTarget({
    publishClient: clients[0]!,
    subscribeClient: clients[1]!,
    prefix,
    ...options,
  })
  const b = createRedisEventTarget({
    publishClient: clients[2]!,
    subscribeClient: clients[3]!,
    prefix,
    ...options,
  })
  await Promise.all([a.ready, b.ready])
  return {
    name,
    send: (detail) => a.dispatchEvent(new CustomEvent('tick', { detail })),
    onReceive: async (listener) => {
      b.addEventListener('tick', (event) => listener(event.detail as { n: number; t: number }))
      await b.flush()
    },
    close: async () => {
      await Promise.all([a.close(), b.close()])
      for (const client of clients) client.disconnect()
    },
  }
}
