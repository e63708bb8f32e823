import { createServer, type Server } from 'node:http'
import {
  createWebSocketClientEventTarget,
  type WebSocketClientEventTargetOptions,
} from '../../src/event-target-websocket-client/index.js'
import {
  createWebSocketServerEventTarget,
  type WebSocketServerEventTarget,
  type WebSocketServerEventTargetOptions,
} from '../../src/event-target-websocket-server/index.js'
import type { EventwireError } from '../../src/index.js'

export interface RunningHub {
  hub: WebSocketServerEventTarget
  server: Server
  url: string
  port: number
  close(): Promise<void>
}

/** A WebSocket hub attached to a plain Node http.Server on a free loopback port. */
export async function startHub(
  options: WebSocketServerEventTargetOptions = {},
  port = 0,
): Promise<RunningHub> {
  const hub = createWebSocketServerEventTarget(options)
  const server = createServer((_request, response) => response.writeHead(404).end())
  hub.attach(server, { path: '/ws' })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, '127.0.0.1', resolve)
  })
  const address = server.address()
  if (address === null || typeof address === 'string') throw new Error('no address')
  return {
    hub,
    server,
    port: address.port,
    url: `ws://127.0.0.1:${address.port}/ws`,
    close: async () => {
      await hub.close()
      server.closeAllConnections()
      await new Promise((resolve) => server.close(resolve))
    },
  }
}

export function client(url: string | string[], options: Partial<WebSocketClientEventTargetOptions> = {}) {
  return createWebSocketClientEventTarget({
    url,
    reconnect: { initialDelayMs: 20, maxDelayMs: 200 },
    ...options,
  })
}

/** A hub that records what reaches its `onError`; its close is queued on `cleanup`. */
export async function hubWith(
  cleanup: Array<() => Promise<unknown> | unknown>,
  options: WebSocketServerEventTargetOptions = {},
): Promise<{ running: RunningHub; errors: EventwireError[] }> {
  const errors: EventwireError[] = []
  const running = await startHub({ onError: (error) => errors.push(error), ...options })
  cleanup.push(() => running.close())
  return { running, errors }
}
