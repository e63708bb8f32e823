// Spokes of the soak, in a child process: `node --import tsx soak/spokes.ts <url> <count> <first> <rate>`.
// Spoke i listens to type `t${i % TYPES}` and the spokes take turns publishing <rate> events per second in
// total. Prints `ready` once every spoke's interest reached the hub, then every second
// `stats <sent> <received> <outOfOrder> <gaps>`.
import { client } from '../test/support/websocket.js'

const TYPES = 10
const [url, count, first, rate] = [
  process.argv[2]!,
  Number(process.argv[3]),
  Number(process.argv[4]),
  Number(process.argv[5]),
]

let sent = 0
let received = 0
let outOfOrder = 0
let gaps = 0
/** Last sequence number seen per (spoke, publisher). */
const last = new Map<string, number>()

const spokes = Array.from({ length: count }, (_, index) => {
  const id = first + index
  const spoke = client(url, {
    onStatus: (status) => {
      if (status.type === 'gap') gaps++
    },
  })
  spoke.addEventListener(`t${id % TYPES}`, (event) => {
    const { from, n } = event.detail as { from: string; n: number }
    received++
    const key = `${id}/${from}`
    if ((last.get(key) ?? 0) >= n) outOfOrder++
    last.set(key, n)
  })
  return { id, spoke }
})
await Promise.all(spokes.map(({ spoke }) => spoke.ready))
await Promise.all(spokes.map(({ spoke }) => spoke.flush()))
process.stdout.write('ready\n')

// Publish paced by the clock, spreading the rate over the spokes.
const publishStart = Date.now()
let turn = 0
const counters = new Map<number, number>()
setInterval(() => {
  const due = Math.floor(((Date.now() - publishStart) * rate) / 1_000)
  while (sent < due) {
    const { id, spoke } = spokes[turn++ % spokes.length]!
    const n = (counters.get(id) ?? 0) + 1
    counters.set(id, n)
    spoke.dispatchEvent(new CustomEvent(`t${(id + n) % TYPES}`, { detail: { from: `s${id}`, n } }))
    sent++
  }
}, 10)
setInterval(() => process.stdout.write(`stats ${sent} ${received} ${outOfOrder} ${gaps}\n`), 1_000)
