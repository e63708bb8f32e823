/**
 * The spoke of the iroh path of bench/realistic.ts, in a process of its own (bundled and forked there,
 * inside the loopback-only network namespace the benchmark runs in):
 * `node realistic-iroh.mjs <variant> <hub ticket> <ack every>`. It dials the hub's endpoint from an
 * endpoint of its own, checks that every `down` event arrives in order, and acknowledges every
 * `<ack every>` on the same QUIC stream:
 * - ours: `createIrohSpokeEventTarget({ endpoint, hub: ticket })` with default options (plus `onError`
 *   and `onStatus`, which report to the parent), a listener for `down`, and an `ack-down` event back;
 * - naive and batched: one raw bidirectional stream of length-prefixed JSON frames; each frame holds one
 *   detail (naive) or the array of one turn's events, deflated (batched; the frame's flag says so);
 *   acknowledgements go back as frames.
 */
import { inflateRawSync } from 'node:zlib'
import { EndpointTicket } from '@number0/iroh'
import { createIrohSpokeEventTarget } from '../../src/event-target-iroh-spoke/index.js'
import { createEvent } from '../../src/index.js'
import { encodeLengthPrefixed, LengthPrefixedDecoder } from '../../src/transport/index.js'
import { alpnBytes, bindLoopbackEndpoint } from '../../test/support/iroh.js'
import { ACK_DOWN, type Detail, DOWN, Receiver, type Variant } from './realistic-common.js'
import { receivingChild } from './realistic-receiver.js'

const [variant, ticket, ackEveryArg] = process.argv.slice(2) as [Variant, string, string]
const ackEvery = Number(ackEveryArg)
const child = receivingChild()
const { fail } = child
const utf8 = new TextEncoder()
const fromUtf8 = new TextDecoder()

/** The binding moves bytes as `Array<number>`: an indexed loop is the cheapest conversion. */
function toNumbers(bytes: Uint8Array): number[] {
  const out = new Array<number>(bytes.length)
  for (let i = 0; i < bytes.length; i++) out[i] = bytes[i]!
  return out
}

function toBytes(numbers: readonly number[]): Uint8Array {
  const out = new Uint8Array(numbers.length)
  for (let i = 0; i < numbers.length; i++) out[i] = numbers[i]!
  return out
}

const endpoint = await bindLoopbackEndpoint()

if (variant === 'ours') {
  const spoke = createIrohSpokeEventTarget({
    endpoint,
    hub: ticket,
    onError: (error) => fail(`spoke: ${error.code} ${error.message}`),
    onStatus: (status) => {
      if (status.type === 'gap' || status.type === 'disconnected') fail(`spoke: ${status.type}`)
    },
  })
  const receiver = new Receiver(
    0,
    ACK_DOWN,
    ackEvery,
    (ack) => spoke.dispatchEvent(createEvent(ACK_DOWN, ack)),
    fail,
  )
  spoke.addEventListener(DOWN, (event) => receiver.take((event as CustomEvent<Detail>).detail))
  // Subscribed once the hub has answered a ping sent after the subs.
  child.serve(
    receiver,
    spoke.ready.then(() => spoke.flush()),
    async () => {
      await spoke.close()
      await endpoint.close()
    },
  )
} else {
  const connection = await endpoint.connect(EndpointTicket.fromString(ticket).endpointAddr(), alpnBytes())
  const stream = await connection.openBi()
  // Each getter call makes a new handle: take them once.
  const send = stream.send
  const recv = stream.recv
  // The hub learns of a stream from its first bytes: an empty frame.
  await send.writeAll([0, 0, 0, 0])
  let isClosing = false
  // One write after another: the binding does not keep the order of writes issued concurrently.
  let tail = Promise.resolve()
  const write = (bytes: number[]) => {
    tail = tail
      .then(() => send.writeAll(bytes))
      .catch((error: unknown) => {
        if (!isClosing) fail(`spoke: ${error instanceof Error ? error.message : String(error)}`)
      })
  }
  const receiver = new Receiver(
    0,
    ACK_DOWN,
    ackEvery,
    (ack) => write(toNumbers(encodeLengthPrefixed(utf8.encode(JSON.stringify(ack))))),
    fail,
  )
  const decoder = new LengthPrefixedDecoder(1 << 30)
  const take = (payload: Uint8Array, isCompressed: boolean) => {
    const text = fromUtf8.decode(isCompressed ? inflateRawSync(payload) : payload)
    const message = JSON.parse(text) as Detail | Detail[]
    if (Array.isArray(message)) {
      for (const detail of message) receiver.take(detail)
    } else receiver.take(message)
  }
  const reading = (async () => {
    try {
      for (;;) {
        const data = await recv.read(64 * 1024)
        if (data.length === 0) return
        const error = decoder.push(toBytes(data), take)
        if (error !== undefined) fail(`spoke: ${error.message}`)
      }
    } catch (error) {
      if (!isClosing) fail(`spoke: ${error instanceof Error ? error.message : String(error)}`)
    }
  })()
  child.serve(receiver, Promise.resolve(), async () => {
    isClosing = true
    await endpoint.close()
    await reading
  })
}
