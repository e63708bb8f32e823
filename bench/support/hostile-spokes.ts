/**
 * The good spokes of bench/hostile.ts, in a process of their own (bundled and forked there), so the hub's
 * thread does none of their reading: `node hostile-spokes.mjs <url> <count> <type> <probe type>`. Each spoke is a real
 * `createWebSocketClientEventTarget` with default options; it checks that it gets every event of `type`
 * in order (`detail.payload.n` counts up from 0) and never reports a gap. After subscribing, each spoke
 * dispatches one event of the probe type, so the hub knows its subscription is in place (a link's frames are
 * read in order). The parent gets, over the IPC channel, the count every spoke has reached (`ack`, at most
 * once per turn of the event loop), and answers to its `cpu` and `counts` questions.
 */
import { createWebSocketClientEventTarget } from '../../src/event-target-websocket-client/index.js'

export type ToSpokes = { type: 'cpu' } | { type: 'counts' } | { type: 'close' }

export type FromSpokes =
  | { type: 'ack'; count: number }
  /** CPU time this process has used so far, user + system, in microseconds. */
  | { type: 'cpu'; micros: number }
  | { type: 'counts'; counts: number[] }
  | { type: 'error'; message: string }

interface Detail {
  type: string
  id: string
  payload: { n: number; s: string; ts: number }
}

// Only types are exported: the parent imports nothing else from here, or this would run in its process.
const [url, countArg, type, probeType] = process.argv.slice(2) as [string, string, string, string]
const send = (message: FromSpokes) => process.send?.(message)
let isClosing = false
const fail = (message: string) => {
  if (!isClosing) send({ type: 'error', message })
}

const counts: number[] = []
let isAckScheduled = false
const ack = () => {
  isAckScheduled = false
  send({ type: 'ack', count: Math.min(...counts) })
}

const spokes = Array.from({ length: Number(countArg) }, (_, index) => {
  counts.push(0)
  const spoke = createWebSocketClientEventTarget({
    url,
    onError: (error) => fail(`spoke ${index}: ${error.code} ${error.message}`),
    onStatus: (status) => {
      if (status.type === 'gap' || status.type === 'disconnected') fail(`spoke ${index}: ${status.type}`)
    },
  })
  spoke.addEventListener(type, (event) => {
    const detail = (event as CustomEvent<Detail>).detail
    if (detail?.payload?.n !== counts[index] || typeof detail.id !== 'string') {
      fail(`spoke ${index} got n = ${detail?.payload?.n}, expected ${counts[index]}`)
    }
    counts[index]!++
    if (!isAckScheduled) {
      isAckScheduled = true
      setImmediate(ack)
    }
  })
  return spoke
})

process.on('message', async (message: ToSpokes) => {
  if (message.type === 'cpu') {
    const { user, system } = process.cpuUsage()
    send({ type: 'cpu', micros: user + system })
  } else if (message.type === 'counts') {
    send({ type: 'counts', counts: [...counts] })
  } else if (message.type === 'close') {
    isClosing = true
    await Promise.all(spokes.map((spoke) => spoke.close()))
    process.disconnect()
  }
})
// The parent is gone (or has let go): nothing left to do here.
process.on('disconnect', () => process.exit(0))

await Promise.all(spokes.map((spoke) => spoke.ready))
for (const spoke of spokes) spoke.dispatchEvent(new CustomEvent(probeType))
