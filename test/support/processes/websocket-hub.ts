// A WebSocket hub in its own process, for tests that kill it: `node --import tsx websocket-hub.ts <port>`.
// Prints `ready <port>` once it listens.
import { startHub } from '../websocket.js'

const running = await startHub({}, Number(process.argv[2] ?? 0))
process.stdout.write(`ready ${running.port}\n`)
