// A WebSocket spoke in its own process, for tests that kill it: `node --import tsx websocket-spoke.ts <url>
// <type>`. Listens for <type> and prints `ready` once the hub knows it.
import { client } from '../websocket.js'

const spoke = client(process.argv[2]!)
spoke.addEventListener(process.argv[3] ?? 'news', () => {})
await spoke.ready
await spoke.flush()
process.stdout.write('ready\n')
