/**
 * Node B of the NATS path of bench/realistic.ts, in a process of its own (bundled and forked there):
 * `node realistic-nats.mjs <naive | batched> <nats host:port> <ack every>`. One NATS connection is
 * subscribed to the variant's `down` subject; its callback parses each message, one detail (naive) or the
 * array of one turn's events (batched), checks that every event arrives in order, and publishes an
 * acknowledgement every `<ack every>` on the variant's `ack-down` subject, through the same server.
 */
import { connect } from '@nats-io/transport-node'
import { ACK_DOWN, type Detail, DOWN, natsSubject, Receiver, type Variant } from './realistic-common.js'
import { receivingChild } from './realistic-receiver.js'

const [variant, server, ackEveryArg] = process.argv.slice(2) as [Variant, string, string]
const child = receivingChild()
const { fail } = child

// No reconnects: the server goes away only at the end, and a reconnect loop would outlive the run.
const connection = await connect({ servers: server, reconnect: false })
const ackSubject = natsSubject(variant, ACK_DOWN)
const receiver = new Receiver(
  0,
  ACK_DOWN,
  Number(ackEveryArg),
  (ack) => connection.publish(ackSubject, JSON.stringify(ack)),
  fail,
)
connection.subscribe(natsSubject(variant, DOWN), {
  callback: (error, message) => {
    if (error !== null) {
      fail(`node B: ${error.message}`)
      return
    }
    if (variant === 'naive') receiver.take(message.json<Detail>())
    else for (const detail of message.json<Detail[]>()) receiver.take(detail)
  },
})
// flush() is a PING/PONG round trip after the SUB: once it resolves the server has the subscription.
child.serve(receiver, connection.flush(), () => connection.close())
