/**
 * Leak check: heap after a full GC before and after long add/remove and subscribe/return churn. The
 * targets stay alive throughout, so anything they retain from the churn shows up in the delta.
 */
import { setMaxListeners } from 'node:events'
import { createPubSub as createYogaPubSub } from '@graphql-yoga/subscription'
import { createInProcessEventTarget } from '../src/event-target-in-process/index.js'
import { createPubSub } from '../src/pubsub/index.js'
import { collectGarbage, expectCount } from './harness.js'

const LISTENER_CYCLES = 1_000_000
const SUBSCRIBE_CYCLES = 100_000
const LIMIT_KB = 1024

type Topics = { tick: [number]; room: [string, number] }

interface PubSubLike {
  publish(topic: 'tick', value: number): void
  publish(topic: 'room', id: string, value: number): void
  subscribe(topic: 'tick'): AsyncIterator<number>
  subscribe(topic: 'room', id: string): AsyncIterator<number>
}

/**
 * Four kinds in turn: a fresh function added then removed; a `{ once: true }` listener removed by its one
 * call; a listener on a shared AbortSignal (every other one also removed by hand) that goes when the
 * signal aborts every 1,000 cycles; a `handleEvent` object added then removed. Returns the listener calls.
 */
function churnListeners(target: EventTarget, cycles: number): number {
  let calls = 0
  const newSignal = () => {
    const controller = new AbortController()
    setMaxListeners(1000, controller.signal) // Node's EventTarget puts one abort listener per listener
    return controller
  }
  let controller = newSignal()
  for (let i = 0; i < cycles; i++) {
    const kind = i % 4
    if (kind === 0) {
      const fn = () => calls++
      target.addEventListener('plain', fn)
      target.removeEventListener('plain', fn)
    } else if (kind === 1) {
      target.addEventListener('once', () => calls++, { once: true })
      target.dispatchEvent(new Event('once'))
    } else if (kind === 2) {
      const fn = () => calls++
      target.addEventListener('signal', fn, { signal: controller.signal })
      if (i % 8 === 2) target.removeEventListener('signal', fn)
    } else {
      const object = { handleEvent: () => calls++ }
      target.addEventListener('object', object)
      target.removeEventListener('object', object)
    }
    if (i % 1000 === 999) {
      controller.abort()
      controller = newSignal()
    }
  }
  controller.abort()
  // Every listener is gone now: one more event of each type must call nothing.
  for (const type of ['plain', 'once', 'signal', 'object']) target.dispatchEvent(new Event(type))
  return calls
}

/** Subscribes and returns; half the subscriptions first receive one value, a quarter are per-id. */
async function churnSubscriptions(pubsub: PubSubLike, cycles: number): Promise<number> {
  let received = 0
  for (let i = 0; i < cycles; i++) {
    const id = `room-${i % 1000}`
    const iterator = i % 4 < 2 ? pubsub.subscribe('tick') : pubsub.subscribe('room', id)
    if (i % 2 === 0) {
      const next = iterator.next()
      if (i % 4 < 2) pubsub.publish('tick', i)
      else pubsub.publish('room', id, i)
      if ((await next).value === i) received++
    }
    await iterator.return?.()
  }
  return received
}

/**
 * Yields to the event loop first: a WeakRef created during a job stays strongly held until that job
 * ends (Node's EventTarget makes one per `signal` listener), so measuring inside the churn's own job
 * would count ~130 MB of objects that are in fact collectable.
 */
async function heapKb(): Promise<number> {
  await new Promise(setImmediate)
  collectGarbage()
  return process.memoryUsage().heapUsed / 1024
}

/** Warms the code up on a throwaway instance, then measures the heap around `cycles` on a fresh one. */
async function measure<T>(
  label: string,
  create: () => T,
  churn: (subject: T, cycles: number) => number | Promise<number>,
  cycles: number,
  verify: (subject: T, result: number) => void,
): Promise<string> {
  await churn(create(), Math.min(cycles, 20_000))
  const subject = create()
  const start = performance.now()
  const before = await heapKb()
  const result = await churn(subject, cycles)
  const after = await heapKb()
  const seconds = (performance.now() - start) / 1000
  verify(subject, result) // also keeps `subject` alive until after the second measurement
  const delta = after - before
  const verdict = delta <= LIMIT_KB ? 'ok' : '<-- ABOVE 1 MB'
  const fmt = (kb: number) => String(Math.round(kb) + 0).padStart(10) // + 0 turns -0 into 0
  return `  ${label.padEnd(54)}${fmt(before)}${fmt(after)}${fmt(delta)}  ${verdict} (${seconds.toFixed(1)} s)`
}

/** The once listeners are the only ones ever called; a listener that outlived its removal adds calls. */
function verifyTarget(name: string) {
  return (_target: EventTarget, calls: number) =>
    expectCount(`${name} listener calls`, calls, LISTENER_CYCLES / 4)
}

export async function run(): Promise<void> {
  const kilo = (n: number) => (n >= 1e6 ? `${n / 1e6}M` : `${n / 1e3}k`)
  const lines = [
    `\nheap after global.gc(), KB: before, after, delta (target: delta within ${LIMIT_KB} KB)`,
    `  ${'scenario'.padEnd(54)}${'before'.padStart(10)}${'after'.padStart(10)}${'delta'.padStart(10)}`,
  ]
  lines.push(
    await measure(
      `eventwire in-process: ${kilo(LISTENER_CYCLES)} add/remove`,
      () => createInProcessEventTarget() as EventTarget,
      churnListeners,
      LISTENER_CYCLES,
      verifyTarget('eventwire in-process'),
    ),
    await measure(
      `node EventTarget (reference): ${kilo(LISTENER_CYCLES)} add/remove`,
      () => {
        const target = new EventTarget()
        setMaxListeners(1000, target) // up to 125 'signal' listeners wait for each abort
        return target
      },
      churnListeners,
      LISTENER_CYCLES,
      verifyTarget('node EventTarget'),
    ),
    await measure(
      `eventwire createPubSub: ${kilo(SUBSCRIBE_CYCLES)} subscribe/return`,
      () => createPubSub<Topics>(),
      (pubsub, cycles) => churnSubscriptions(pubsub, cycles),
      SUBSCRIBE_CYCLES,
      (pubsub, received) => {
        expectCount('eventwire createPubSub subscriptions', received, SUBSCRIBE_CYCLES / 2)
        const { subscriptions, dropped } = pubsub.stats()
        if (subscriptions !== 0 || dropped !== 0) {
          throw new Error(`sanity check failed: ${subscriptions} subscriptions left, ${dropped} dropped`)
        }
      },
    ),
    await measure(
      `yoga createPubSub (reference): ${kilo(SUBSCRIBE_CYCLES)} subscribe/return`,
      () => createYogaPubSub<Topics>(),
      (pubsub, cycles) => churnSubscriptions(pubsub, cycles),
      SUBSCRIBE_CYCLES,
      (_pubsub, received) => expectCount('yoga createPubSub subscriptions', received, SUBSCRIBE_CYCLES / 2),
    ),
  )
  console.log(lines.join('\n'))
}
