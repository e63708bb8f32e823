// A WebSocket hub on a plain Node server, and a Node spoke. Browsers connect the same way with
// createWebSocketClientEventTarget({ url }). Run: npx tsx examples/websocket-hub.ts
import { createServer } from 'node:http'
import { createWebSocketClientEventTarget } from '../src/event-target-websocket-client/index.js'
import { createWebSocketServerEventTarget } from '../src/event-target-websocket-server/index.js'
import { createEvent } from '../src/index.js'

const hub = createWebSocketServerEventTarget({
  authenticate: (request) => new URL(request.url).searchParams.get('name') ?? false,
  onConnection: (connection) => console.log('hub: connected', connection.principal),
})
const server = createServer((_request, response) => response.end('eventwire hub\n'))
hub.attach(server, { path: '/ws' })
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
const { port } = server.address() as { port: number }

const spoke = createWebSocketClientEventTarget({ url: `ws://127.0.0.1:${port}/ws?name=ada` })
spoke.addEventListener('chat', (event) => console.log('spoke got', event.detail))
hub.addEventListener('chat', (event) => console.log('hub got', event.detail))
await spoke.ready
spoke.dispatchEvent(createEvent('chat', 'hello hub'))
hub.dispatchEvent(createEvent('chat', 'hello spokes'))
await spoke.flush()
await spoke.close()
await hub.close()
server.close()
