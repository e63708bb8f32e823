/**
 * The spokes of bench/schemas.ts, in a child process of their own: one WebSocket client per variant of
 * the hub, each without a declaration (the hub is the one that checks). On `{ run, ms }` from the parent
 * it sends realistic events to that variant's hub for `ms`, at most IN_FLIGHT ahead of the hub's
 * acknowledgements, and answers `{ done, sent }` with how many it has sent in all.
 */
import { performance } from 'node:perf_hooks'
import { createWebSocketClientEventTarget } from '../../src/event-target-websocket-client/index.js'
import { createEvent } from '../../src/index.js'
import { detailOf, IN_FLIGHT, nextTask } from './realistic-common.js'

export type ToSchemaSpokes = { urls: Record<string, string> } | { run: string; ms: number } | { close: true }
export type FromSchemaSpokes = { ready: true } | { done: string; sent: number }

interface Sender {
  client: ReturnType<typeof createWebSocketClientEventTarget>
  sent: number
  acked: number
}

const senders = new Map<string, Sender>()

async function open(urls: Record<string, string>): Promise<void> {
  for (const [variant, url] of Object.entries(urls)) {
    const client = createWebSocketClientEventTarget({ url, heartbeatIntervalMs: 0 })
    const sender: Sender = { client, sent: 0, acked: 0 }
    client.addEventListener('ack', (event) => {
      sender.acked = (event.detail as { count: number }).count
    })
    senders.set(variant, sender)
  }
  await Promise.all([...senders.values()].map(({ client }) => client.ready))
  await Promise.all([...senders.values()].map(({ client }) => client.flush()))
}

async function pump(variant: string, ms: number): Promise<number> {
  const sender = senders.get(variant)!
  const end = performance.now() + ms
  while (performance.now() < end) {
    let burst = 0
    while (sender.sent - sender.acked < IN_FLIGHT && burst < 200) {
      sender.client.dispatchEvent(createEvent('evt', detailOf('evt', sender.sent)))
      sender.sent++
      burst++
    }
    await nextTask()
  }
  return sender.sent
}

process.on('message', (message: ToSchemaSpokes) => {
  const send = (reply: FromSchemaSpokes) => process.send!(reply)
  if ('urls' in message) void open(message.urls).then(() => send({ ready: true }))
  else if ('run' in message)
    void pump(message.run, message.ms).then((sent) => send({ done: message.run, sent }))
  else void Promise.all([...senders.values()].map(({ client }) => client.close())).then(() => process.exit(0))
})
