/**
 * publish -> `for await` throughput. A consumer counts N values while the producer publishes them in
 * chunks, waiting after each chunk until the consumer has drained it, so no buffer ever holds more than
 * one chunk (ours drops the oldest past 1024 by default; yoga's Repeater throws past 1024 pending pushes).
 * Every value is checked in order, so a drop or a duplicate fails the run.
 */
import { createPubSub as createYogaPubSub } from '@graphql-yoga/subscription'
import { createInProcessEventTarget } from '../src/event-target-in-process/index.js'
import { createPubSub } from '../src/pubsub/index.js'
import { type Contender, compare } from './harness.js'

const N = 100_000
const CHUNK = 250
const TIMEOUT_MS = 30_000

interface PubSubLike {
  publish(topic: 'tick', value: number): void
  subscribe(topic: 'tick'): AsyncIterable<number>
}

/** The raw limit: one queue and one pending resolver per subscriber, no event target, no policy. */
function createFloorPubSub(): PubSubLike {
  const subscribers = new Set<(value: number) => void>()
  return {
    publish(_topic, value) {
      for (const push of subscribers) push(value)
    },
    subscribe() {
      const queue: number[] = []
      let head = 0
      let waiting: ((result: IteratorResult<number>) => void) | undefined
      const push = (value: number) => {
        if (waiting === undefined) return void queue.push(value)
        const resolve = waiting
        waiting = undefined
        resolve({ value, done: false })
      }
      subscribers.add(push)
      const iterator: AsyncIterableIterator<number> = {
        next() {
          if (head === queue.length) return new Promise((resolve) => (waiting = resolve))
          const value = queue[head++]!
          if (head === queue.length) queue.length = head = 0
          return Promise.resolve({ value, done: false })
        },
        return() {
          subscribers.delete(push)
          return Promise.resolve({ value: undefined, done: true })
        },
        [Symbol.asyncIterator]: () => iterator,
      }
      return iterator
    },
  }
}

/** Publishes 0..n-1 to one subscriber and resolves once it has seen all of them, in order. */
async function transfer(pubsub: PubSubLike, n: number): Promise<void> {
  let received = 0
  let chunkEnd = 0
  let failure: Error | undefined
  let drained = () => {}
  let stop = () => {}
  const stopped = new Promise<void>((resolve) => (stop = resolve))
  const fail = (error: Error) => {
    failure ??= error
    drained()
    stop() // a stalled consumer never finishes: stop waiting for it
  }
  const watchdog = setTimeout(() => fail(new Error(`stalled at ${received} of ${n} values`)), TIMEOUT_MS)
  const consumer = (async () => {
    for await (const value of pubsub.subscribe('tick')) {
      if (value !== received) throw new Error(`value ${received} arrived as ${value} (dropped or reordered)`)
      if (++received === chunkEnd) drained()
      if (received === n) break
    }
  })().then(() => {
    if (received !== n) fail(new Error(`the subscription ended after ${received} of ${n} values`))
  }, fail)

  for (let sent = 0; sent < n && failure === undefined; ) {
    chunkEnd = Math.min(n, sent + CHUNK)
    const chunkDrained = new Promise<void>((resolve) => (drained = resolve))
    while (sent < chunkEnd) pubsub.publish('tick', sent++)
    await chunkDrained
  }
  await Promise.race([consumer, stopped])
  clearTimeout(watchdog)
  if (failure !== undefined) throw new Error(`sanity check failed: ${failure.message}`)
}

function contender(name: string, pubsub: PubSubLike, check?: () => void): Contender {
  return { name, run: (n) => transfer(pubsub, n), ...(check === undefined ? {} : { check }) }
}

export async function run(): Promise<void> {
  const ours = createPubSub<{ tick: [number] }>()
  await compare({
    title: `publish -> for await, ${N / 1000}k values per subscription, drained every ${CHUNK}`,
    unit: 'msg',
    batch: N,
    contenders: [
      contender('eventwire', ours, () => {
        const { dropped, subscriptions } = ours.stats()
        if (dropped !== 0 || subscriptions !== 0) {
          throw new Error(
            `sanity check failed: eventwire dropped ${dropped}, ${subscriptions} subscriptions left`,
          )
        }
      }),
      contender('yoga', createYogaPubSub<{ tick: [number] }>()),
      contender(
        'yoga on eventwire target',
        createYogaPubSub<{ tick: [number] }>({ eventTarget: createInProcessEventTarget() }),
      ),
      contender('floor (queue+resolver)', createFloorPubSub()),
    ],
    ratios: [
      { ours: 'eventwire', theirs: 'yoga', target: 5 },
      { ours: 'eventwire', theirs: 'floor (queue+resolver)' },
    ],
  })
}
