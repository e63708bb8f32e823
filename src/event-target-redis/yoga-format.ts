import { EventwireError } from '../core/errors.js'
import type { Serializer } from '../core/types.js'

/**
 * The messages a Redis target publishes and reads: `'eventwire'` frames (origin, sequence number,
 * batches), or `'graphql-yoga'`, the format of `@graphql-yoga/redis-event-target`: on the channel
 * `prefix + type`, one message per event holding the serialized detail alone (`''` for `undefined`,
 * which a receiver reads as `null`).
 */
export type RedisWireFormat = 'eventwire' | 'graphql-yoga'

/** One event as yoga's Redis target writes it: the detail alone. */
export function encodeYogaMessage(type: string, detail: unknown, serializer: Serializer): string {
  if (detail === undefined) return ''
  try {
    const message = serializer.stringify(detail)
    if (typeof message !== 'string') throw new TypeError('serializer.stringify did not return a string')
    return message
  } catch (cause) {
    throw new EventwireError('ERR_SERIALIZE', `the detail of "${type}" cannot be serialized`, {
      cause,
      eventType: type,
    })
  }
}

/** How long a published message waits for Redis to echo it back; past it, no echo is expected. */
const ECHO_WINDOW_MS = 10_000
/** Messages per channel waiting for their echo; past it the oldest is forgotten. */
const MAX_ECHOES_PER_CHANNEL = 10_000

interface ChannelEchoes {
  /** Published messages in publish order, the oldest at `head`. */
  readonly messages: string[]
  readonly times: number[]
  head: number
  /** message -> how many copies wait, so a message that is no echo is told apart without a scan. */
  readonly counts: Map<string, number>
}

/**
 * A message in yoga's format carries no origin, so Redis's echo of this node's own publish (delivered to
 * local listeners already, at dispatch) cannot be recognised by its content alone. Redis echoes one
 * connection's publishes in publish order, so the node remembers what it published on each channel it
 * listens to, and takes a received message for its echo when it equals the oldest such message still
 * waiting, or a later one (the ones before it then got no echo: the subscription was not in place yet).
 * A message from another node with exactly the same content as one of ours in flight is taken for our
 * echo instead, and ours then arrives in its place: the same content, delivered once.
 */
export class EchoFilter {
  readonly #channels = new Map<string, ChannelEchoes>()

  /** Records a message published on `channel`, whose echo Redis will send to this node. */
  expect(channel: string, message: string): void {
    let echoes = this.#channels.get(channel)
    if (echoes === undefined) {
      echoes = { messages: [], times: [], head: 0, counts: new Map() }
      this.#channels.set(channel, echoes)
    }
    const now = Date.now()
    expire(echoes, now)
    if (echoes.messages.length - echoes.head >= MAX_ECHOES_PER_CHANNEL) forget(echoes, 1)
    echoes.messages.push(message)
    echoes.times.push(now)
    echoes.counts.set(message, (echoes.counts.get(message) ?? 0) + 1)
  }

  /** True when `message` on `channel` is the echo of one this node published; it is forgotten then. */
  isEcho(channel: string, message: string): boolean {
    const echoes = this.#channels.get(channel)
    if (echoes === undefined) return false
    expire(echoes, Date.now())
    if (!echoes.counts.has(message)) {
      if (echoes.head === echoes.messages.length) this.#channels.delete(channel)
      return false
    }
    let at = echoes.head
    while (echoes.messages[at] !== message) at++
    // Echoes come in publish order: the messages before this one will get none.
    forget(echoes, at - echoes.head + 1)
    if (echoes.head === echoes.messages.length) this.#channels.delete(channel)
    return true
  }

  /** The subscribe connection was lost: what was in flight gets no echo. */
  clear(): void {
    this.#channels.clear()
  }
}

function expire(echoes: ChannelEchoes, now: number): void {
  let count = 0
  while (
    echoes.head + count < echoes.messages.length &&
    now - echoes.times[echoes.head + count]! > ECHO_WINDOW_MS
  )
    count++
  if (count > 0) forget(echoes, count)
}

/** Forgets the `count` oldest messages waiting. */
function forget(echoes: ChannelEchoes, count: number): void {
  for (let i = 0; i < count; i++) {
    const message = echoes.messages[echoes.head]!
    const left = (echoes.counts.get(message) ?? 1) - 1
    if (left > 0) echoes.counts.set(message, left)
    else echoes.counts.delete(message)
    echoes.head++
  }
  // Compact once the consumed front is the larger part.
  if (echoes.head > 1024 && echoes.head * 2 > echoes.messages.length) {
    echoes.messages.splice(0, echoes.head)
    echoes.times.splice(0, echoes.head)
    echoes.head = 0
  }
}
