/**
 * The spokes of bench/scale-out.ts, all in one process of their own: `node scale-out-spokes.mjs <urls as
 * JSON> <spokes per hub>`. Every hub gets that many receiving spokes (default options), and the first hub
 * one more spoke, the publisher, which listens to nothing. Each receiver checks that it gets every event,
 * in order. The flow control needs no acknowledgements on the wire: publisher and receivers share this
 * process, so the publisher sends while fewer than IN_FLIGHT events are missing at the slowest receiver.
 */
import { createWebSocketClientEventTarget } from '../../src/event-target-websocket-client/index.js'
import { createEvent } from '../../src/index.js'
import { CHUNK, type Detail, detailOf, IN_FLIGHT, nextTask } from './realistic-common.js'
import { cpuMicros, DOWN, type FromChild, type ToChild } from './scale-out-common.js'

const [urlsArg, perHubArg] = process.argv.slice(2) as [string, string]
const urls = JSON.parse(urlsArg) as string[]
const perHub = Number(perHubArg)
const send = (message: FromChild) => process.send?.(message)
let isClosing = false
const fail = (message: string) => {
  if (!isClosing) send({ type: 'error', message })
}

const options = (index: number) => ({
  // Hundreds of spokes dial at once on two shared cores: let them take their time.
  readyTimeoutMs: 60_000,
  onError: (error: { code: string; message: string }) =>
    fail(`spoke ${index}: ${error.code} ${error.message}`),
  onStatus: (status: { type: string }) => {
    if (status.type === 'gap' || status.type === 'disconnected') fail(`spoke ${index}: ${status.type}`)
  },
})

/** Events every receiver has; -1 until it has seen a warm-up event (n < 0), after which it counts from 0. */
const counts: number[] = []
const receivers = urls.flatMap((url, hub) =>
  Array.from({ length: perHub }, (_, i) => {
    const index = hub * perHub + i
    counts.push(-1)
    const spoke = createWebSocketClientEventTarget({ url, ...options(index) })
    spoke.addEventListener(DOWN, (event) => {
      const n = (event as CustomEvent<Detail>).detail.payload.n
      const count = counts[index]!
      if (n < 0) {
        if (count > 0) fail(`receiver ${index}: a warm-up event after ${count} events`)
        else counts[index] = 0
      } else if (n !== count) fail(`receiver ${index} got n = ${n}, expected ${count}`)
      else counts[index] = count + 1
    })
    return spoke
  }),
)
const publisher = createWebSocketClientEventTarget({ url: urls[0]!, ...options(-1) })
let sent = 0

const slowest = () => {
  let min = Number.POSITIVE_INFINITY
  for (const count of counts) if (count < min) min = count
  return min
}

/** Until every receiver is subscribed (interest crosses Redis asynchronously), warm-up events. */
async function warmUp(): Promise<void> {
  const deadline = Date.now() + 30_000
  while (slowest() < 0) {
    if (Date.now() > deadline) throw new Error('receivers not subscribed after 30 s')
    publisher.dispatchEvent(createEvent(DOWN, detailOf(DOWN, -1)))
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

async function pump(ms: number): Promise<{ events: number; ms: number }> {
  const first = sent
  const start = performance.now()
  while (performance.now() - start < ms) {
    if (sent + CHUNK - slowest() > IN_FLIGHT) {
      await nextTask()
      continue
    }
    for (let i = 0; i < CHUNK; i++) publisher.dispatchEvent(createEvent(DOWN, detailOf(DOWN, sent + i)))
    sent += CHUNK
    await nextTask()
  }
  const deadline = Date.now() + 30_000
  while (slowest() < sent) {
    if (Date.now() > deadline) throw new Error(`slowest receiver at ${slowest()} of ${sent} after 30 s`)
    await nextTask()
  }
  return { events: sent - first, ms: performance.now() - start }
}

process.on('message', async (message: ToChild) => {
  try {
    if (message.type === 'usage') send({ type: 'usage', cpu: cpuMicros() })
    else if (message.type === 'pump') send({ type: 'pumped', ...(await pump(message.ms)) })
    else if (message.type === 'close') {
      isClosing = true
      await Promise.all([publisher, ...receivers].map((spoke) => spoke.close()))
      process.disconnect()
    }
  } catch (error) {
    fail(error instanceof Error ? error.message : String(error))
  }
})
process.on('disconnect', () => process.exit(0))

try {
  await Promise.all([publisher, ...receivers].map((spoke) => spoke.ready.then(() => spoke.flush())))
  await warmUp()
  send({ type: 'ready' })
} catch (error) {
  fail(`not ready: ${error instanceof Error ? error.message : String(error)}`)
}
