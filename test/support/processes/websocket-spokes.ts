// Many WebSocket spokes in one process, for load tests:
// `node --import tsx websocket-spokes.ts <url> <count> <type> <expected>`.
// Prints `ready` once every spoke's interest reached the hub, then `done <complete> <inOrder>` once every
// spoke has received <expected> events (or `stuck …` after 60 s).
import { client } from '../websocket.js'

const [url, count, type, expected] = [
  process.argv[2]!,
  Number(process.argv[3]),
  process.argv[4]!,
  Number(process.argv[5]),
]
const received: number[][] = []
const spokes = Array.from({ length: count }, (_, index) => {
  const spoke = client(url, { heartbeatIntervalMs: 0 })
  received.push([])
  spoke.addEventListener(type, (event) => received[index]!.push(event.detail as number))
  return spoke
})
await Promise.all(spokes.map((spoke) => spoke.ready))
await Promise.all(spokes.map((spoke) => spoke.flush()))
process.stdout.write('ready\n')

const started = Date.now()
const timer = setInterval(() => {
  const complete = received.filter((list) => list.length >= expected).length
  if (complete < count && Date.now() - started < 60_000) return
  clearInterval(timer)
  const inOrder = received.filter((list) => list.length === expected && list.every((n, i) => n === i)).length
  process.stdout.write(`${complete === count ? 'done' : 'stuck'} ${complete} ${inOrder}\n`)
}, 10)
