/**
 * The spokes of bench/realistic.ts, all in one process of their own (bundled and forked there), so the
 * hub's process does none of their work: `node realistic-spokes.mjs <variant> <url> <count> <ack every>`.
 *
 * - ours: `createWebSocketClientEventTarget({ url })` with default options (plus `onError` and
 *   `onStatus`, which report to the parent);
 * - naive and batched: a raw `ws` client each; the naive one sends one `JSON.stringify(detail)` per
 *   event, the batched one a JSON array of the events of one turn;
 * - socketio: a socket.io-client socket with `{ transports: ['websocket'] }`, one `emit` per event.
 *
 * Each spoke checks that it gets every `down` event in order and acknowledges every `<ack every>` over
 * its own socket (ours: an `ack-down` event; raw: a JSON message). Spoke 0 is also the sender of `up`
 * events, with the same flow control, acknowledged by the hub over the same socket. The IPC channel
 * carries commands and answers only, never data or acknowledgements.
 */
import { performance } from 'node:perf_hooks'
import { io as socketIoClient } from 'socket.io-client'
import { WebSocket } from 'ws'
import { createWebSocketClientEventTarget } from '../../src/event-target-websocket-client/index.js'
import { createEvent } from '../../src/index.js'
import {
  ACK_DOWN,
  ACK_UP,
  type Ack,
  type Detail,
  DOWN,
  detailOf,
  Flow,
  type FromSpokes,
  nowMicros,
  pump,
  Receiver,
  type SpokeVariant,
  type ToSpokes,
  UP,
} from './realistic-common.js'

// Only types and constants of realistic-common are shared: nothing here runs in the parent.
const [variant, url, countArg, ackEveryArg] = process.argv.slice(2) as [SpokeVariant, string, string, string]
const count = Number(countArg)
const ackEvery = Number(ackEveryArg)
const send = (message: FromSpokes) => process.send?.(message)
let isClosing = false
const fail = (message: string) => {
  if (!isClosing) send({ type: 'error', message })
}

/** One spoke as the benchmark drives it. */
interface Spoke {
  receiver: Receiver
  /** Sends `up` events `first` to `first + n - 1` (spoke 0 only). */
  sendUp(first: number, n: number): void
  close(): Promise<void> | void
}

/** The flow of `up` events from spoke 0; the hub's acknowledgements carry the time they reached it. */
const upFlow = new Flow(1)
let lastUpAck: Ack | undefined
const onUpAck = (ack: Ack) => {
  lastUpAck = ack
  upFlow.ack(0, ack.count)
}

function ours(index: number): Spoke & { ready: Promise<void> } {
  const spoke = createWebSocketClientEventTarget({
    url,
    onError: (error) => fail(`spoke ${index}: ${error.code} ${error.message}`),
    onStatus: (status) => {
      if (status.type === 'gap' || status.type === 'disconnected') fail(`spoke ${index}: ${status.type}`)
    },
  })
  const receiver = new Receiver(
    index,
    ACK_DOWN,
    ackEvery,
    (ack) => spoke.dispatchEvent(createEvent(ACK_DOWN, ack)),
    fail,
  )
  spoke.addEventListener(DOWN, (event) => receiver.take((event as CustomEvent<Detail>).detail))
  if (index === 0) spoke.addEventListener(ACK_UP, (event) => onUpAck((event as CustomEvent<Ack>).detail))
  return {
    receiver,
    sendUp: (first, n) => {
      for (let i = 0; i < n; i++) spoke.dispatchEvent(createEvent(UP, detailOf(UP, first + i)))
    },
    close: () => spoke.close(),
    // Subscribed once the hub has answered a ping sent after the subs.
    ready: spoke.ready.then(() => spoke.flush()),
  }
}

function raw(index: number): Spoke & { ready: Promise<void> } {
  const socket = new WebSocket(url)
  const receiver = new Receiver(index, ACK_DOWN, ackEvery, (ack) => socket.send(JSON.stringify(ack)), fail)
  socket.on('message', (data) => {
    const message = JSON.parse(String(data)) as Detail | Detail[] | Ack
    if (Array.isArray(message)) {
      for (const detail of message) receiver.take(detail)
    } else if (message.type === DOWN) receiver.take(message as Detail)
    else if (message.type === ACK_UP) onUpAck(message as Ack)
    else fail(`spoke ${index}: unexpected message ${String(data).slice(0, 80)}`)
  })
  socket.on('error', (error) => fail(`spoke ${index}: ${error.message}`))
  socket.on('close', () => fail(`spoke ${index}: socket closed`))
  return {
    receiver,
    sendUp:
      variant === 'naive'
        ? (first, n) => {
            for (let i = 0; i < n; i++) socket.send(JSON.stringify(detailOf(UP, first + i)))
          }
        : (first, n) => {
            const batch: Detail[] = []
            for (let i = 0; i < n; i++) batch.push(detailOf(UP, first + i))
            socket.send(JSON.stringify(batch))
          },
    close: () => socket.terminate(),
    ready: new Promise((resolve, reject) => {
      socket.once('open', () => resolve())
      socket.once('error', reject)
    }),
  }
}

function socketIo(index: number): Spoke & { ready: Promise<void> } {
  const socket = socketIoClient(url, { transports: ['websocket'], forceNew: true })
  const receiver = new Receiver(index, ACK_DOWN, ackEvery, (ack) => socket.emit(ACK_DOWN, ack), fail)
  socket.on(DOWN, (detail: Detail) => receiver.take(detail))
  if (index === 0) socket.on(ACK_UP, (ack: Ack) => onUpAck(ack))
  socket.on('connect_error', (error) => fail(`spoke ${index}: ${error.message}`))
  socket.on('disconnect', (reason) => fail(`spoke ${index}: disconnected (${reason})`))
  return {
    receiver,
    sendUp: (first, n) => {
      for (let i = 0; i < n; i++) socket.emit(UP, detailOf(UP, first + i))
    },
    close: () => {
      socket.close()
    },
    ready: new Promise((resolve) => socket.once('connect', () => resolve())),
  }
}

const make = variant === 'ours' ? ours : variant === 'socketio' ? socketIo : raw
const spokes = Array.from({ length: count }, (_, index) => make(index))
const first = spokes[0]!

/** One `up` event, one at a time: µs to the hub's listener (its stamp) and back. */
async function sample(): Promise<FromSpokes> {
  const n = upFlow.sent
  const start = nowMicros()
  first.sendUp(n, 1)
  upFlow.sent++
  while (upFlow.acked < upFlow.sent) await upFlow.nextAck()
  const back = nowMicros()
  return { type: 'sample', oneWay: lastUpAck!.at - start, roundTrip: back - start }
}

process.on('message', async (message: ToSpokes) => {
  try {
    switch (message.type) {
      case 'pump': {
        const { events, ms } = await pump(upFlow, first.sendUp, message.ms, message.minEvents)
        send({ type: 'pumped', events, ms })
        break
      }
      case 'sample':
        send(await sample())
        break
      case 'clock':
        send({ type: 'clock', at: nowMicros() })
        break
      case 'usage': {
        const { active, idle } = performance.eventLoopUtilization()
        const { user, system } = process.cpuUsage()
        send({ type: 'usage', active, idle, cpu: user + system })
        break
      }
      case 'counts':
        send({ type: 'counts', counts: spokes.map((spoke) => spoke.receiver.count), sent: upFlow.sent })
        break
      case 'close':
        isClosing = true
        await Promise.all(spokes.map((spoke) => spoke.close()))
        process.disconnect()
        break
    }
  } catch (error) {
    fail(error instanceof Error ? error.message : String(error))
  }
})
// The parent is gone (or has let go): nothing left to do here.
process.on('disconnect', () => process.exit(0))

try {
  await Promise.all(spokes.map((spoke) => spoke.ready))
  send({ type: 'ready' })
} catch (error) {
  fail(`not connected: ${error instanceof Error ? error.message : String(error)}`)
}
