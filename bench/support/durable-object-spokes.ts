/**
 * The spokes of bench/durable-object.ts, in a child process of their own so that receiving does not share
 * the benchmark's event loop. Ours are eventwire WebSocket clients; the hand-written room's receivers are
 * plain `ws` sockets that parse each message, as a hand-written client would. Each spoke checks that its
 * events arrive in order (`payload.n` counting up).
 */
import { WebSocket } from 'ws'
import { createWebSocketClientEventTarget } from '../../src/event-target-websocket-client/index.js'
import type { Detail, FromChild, Kind, ToChild } from './durable-object-common.js'
import { DOWN } from './durable-object-common.js'

const counts: Record<Kind, number[]> = { ours: [], raw: [] }
const closers: Array<() => unknown> = []
let expected: { kind: Kind; events: number } | undefined

function send(message: FromChild): void {
  process.send!(message)
}

function fail(message: string): void {
  send({ type: 'failed', message })
}

function take(kind: Kind, index: number, detail: Detail): void {
  const list = counts[kind]
  if (detail.payload.n !== list[index])
    fail(`${kind} spoke ${index}: n = ${detail.payload.n}, expected ${list[index]}`)
  list[index]!++
  if (expected?.kind === kind && list.every((count) => count >= expected!.events)) {
    expected = undefined
    send({ type: 'done' })
  }
}

async function connect(kind: Kind, url: string, count: number): Promise<void> {
  counts[kind] = Array.from({ length: count }, () => 0)
  if (kind === 'ours') {
    const spokes = Array.from({ length: count }, (_, index) => {
      const spoke = createWebSocketClientEventTarget({ url, onError: (error) => fail(error.message) })
      spoke.addEventListener(DOWN, (event) => take(kind, index, event.detail as Detail))
      closers.push(() => spoke.close())
      return spoke
    })
    await Promise.all(spokes.map((spoke) => spoke.ready.then(() => spoke.flush())))
    return
  }
  await Promise.all(
    Array.from({ length: count }, (_, index) => {
      const socket = new WebSocket(url)
      socket.on('message', (data) =>
        take(kind, index, (JSON.parse(String(data)) as { detail: Detail }).detail),
      )
      closers.push(() => socket.terminate())
      return new Promise((resolve, reject) => {
        socket.once('open', resolve)
        socket.once('error', reject)
      })
    }),
  )
}

process.on('message', (message: ToChild) => {
  if (message.type === 'connect') {
    connect(message.kind, message.url, message.count).then(
      () => send({ type: 'connected' }),
      (error: unknown) => fail(String(error)),
    )
  } else if (message.type === 'expect') {
    counts[message.kind].fill(0)
    expected = { kind: message.kind, events: message.events }
  } else {
    for (const close of closers.splice(0)) close()
    process.disconnect()
  }
})
process.on('disconnect', () => process.exit(0))
