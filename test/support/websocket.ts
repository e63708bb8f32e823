import { createServer, type Server } from 'node:http'
import { WebSocket } from 'ws'
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

export function client(
  url: WebSocketClientEventTargetOptions['url'],
  options: Partial<WebSocketClientEventTargetOptions> = {},
) {
  return createWebSocketClientEventTarget({
    url,
    reconnect: { initialDelayMs: 20, maxDelayMs: 200 },
    ...options,
  })
}

/**
 * A client whose current socket can be broken as a network fault would break it: `interrupt()` drops it
 * without a close handshake (`terminate`) and resolves once it has closed; the client reconnects.
 */
export function interruptibleClient(
  url: string | string[],
  options: Partial<WebSocketClientEventTargetOptions> = {},
) {
  let current: WebSocket | undefined
  class RecordedWebSocket extends WebSocket {
    constructor(...args: ConstructorParameters<typeof WebSocket>) {
      super(...args)
      current = this
    }
  }
  const target = client(url, { WebSocket: RecordedWebSocket as never, ...options })
  const interrupt = async () => {
    const socket = current
    if (socket === undefined || socket.readyState !== WebSocket.OPEN) throw new Error('no open socket')
    const closed = new Promise((resolve) => socket.once('close', resolve))
    socket.terminate()
    await closed
  }
  return { target, interrupt }
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

/**
 * A raw `ws` client, open, that records every frame it receives (batches unpacked), the texts as they
 * came, and how it closed; its termination is queued on `cleanup`.
 */
export async function rawClient(
  cleanup: Array<() => Promise<unknown> | unknown>,
  url: string,
  headers: Record<string, string> = {},
) {
  const socket = new WebSocket(url, { headers })
  const frames: unknown[][] = []
  const texts: string[] = []
  let closed: { code: number } | undefined
  socket.on('message', (data) => {
    texts.push(String(data))
    const frame = JSON.parse(String(data)) as unknown[]
    if (frame[0] === 4) frames.push(...(frame.slice(1) as unknown[][]))
    else frames.push(frame)
  })
  socket.on('close', (code) => {
    closed = { code }
  })
  cleanup.push(() => socket.terminate())
  await new Promise<void>((resolve, reject) => {
    socket.once('open', () => resolve())
    socket.once('error', reject)
  })
  const errorFrames = () => frames.filter((frame) => frame[0] === 5)
  return { socket, frames, texts, errorFrames, closed: () => closed }
}

/**
 * Resolves with how the hub refused a client: the HTTP status of a refused upgrade, or the close code of
 * a socket it opened and closed before any frame (4401, 4403). Rejects if the hub sends a frame.
 */
export function refusedWith(url: string, headers: Record<string, string> = {}): Promise<number> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url, { headers })
    socket.on('unexpected-response', (_request, response) => {
      resolve(response.statusCode ?? 0)
      socket.terminate()
    })
    socket.on('open', () => socket.send('[0,1,"refused","spoke"]'))
    socket.on('message', () => reject(new Error('the hub admitted the client')))
    socket.on('close', (code) => resolve(code))
    socket.on('error', () => {})
  })
}
