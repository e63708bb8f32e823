/**
 * `dispatchEvent(new CustomEvent('tick', { detail: i }))` against Node's EventTarget, EventEmitter and a
 * bare `Map<string, Set<fn>>` loop, then the two halves of that cost measured apart: building the event,
 * and dispatching an event built once up front.
 */
import { EventEmitter, setMaxListeners } from 'node:events'
import { createInProcessEventTarget } from '../src/event-target-in-process/index.js'
import { type Comparison, type Contender, compare, expectCount } from './harness.js'

const OURS = 'eventwire'
const NODE_ET = 'EventTarget'
const EMITTER = 'EventEmitter'
const MAP = 'Map+Set loop'

interface Counter {
  delivered: number
}

/**
 * `k` listeners that each count a delivery when `detail >= 0` (false for undefined or NaN, so a lost
 * detail shows as a missing delivery). Each is compiled from its own source: real listeners are distinct
 * functions, and closures of one literal would let V8 inline them into a plain `fn(e)` loop, flattering
 * the Map loop and EventEmitter (measured: about 1.6x at 10 listeners) in a way no application sees.
 */
function listeners<A>(k: number, counter: Counter, read: 'event' | 'detail'): ((arg: A) => void)[] {
  const value = read === 'event' ? 'arg.detail' : 'arg'
  return Array.from({ length: k }, (_, j) => {
    const source = `return function listener${j}(arg) { counter.delivered += ${value} >= 0 ? 1 : 0 }`
    return new Function('counter', source)(counter) as (arg: A) => void
  })
}

/** The same `k` listeners registered on each contender, plus the counters to check deliveries against. */
function setUp(k: number) {
  const counts = {
    ours: { delivered: 0 },
    node: { delivered: 0 },
    map: { delivered: 0 },
    emitter: { delivered: 0 },
  }
  const ours = createInProcessEventTarget()
  for (const fn of listeners<Event>(k, counts.ours, 'event')) ours.addEventListener('tick', fn)
  const node = new EventTarget()
  setMaxListeners(k + 1, node)
  for (const fn of listeners<Event>(k, counts.node, 'event')) node.addEventListener('tick', fn)
  const map = new Map<string, Set<(event: Event) => void>>([
    ['tick', new Set(listeners<Event>(k, counts.map, 'event'))],
  ])
  const emitter = new EventEmitter()
  emitter.setMaxListeners(k + 1)
  for (const fn of listeners<number>(k, counts.emitter, 'detail')) emitter.on('tick', fn)
  const checked = (name: string, counter: Counter, run: (n: number) => void): Contender => ({
    name,
    run,
    check: (ops) => expectCount(name, counter.delivered, ops * k),
  })
  return { ours, node, map, emitter, counts, checked }
}

function freshEvents(k: number, target: number): Comparison {
  const { ours, node, map, emitter, counts, checked } = setUp(k)
  return {
    title: `dispatchEvent(new CustomEvent('tick', { detail: i })) -> ${k} listener(s); EventEmitter: emit('tick', i)`,
    unit: 'dispatch',
    contenders: [
      checked(OURS, counts.ours, (n) => {
        for (let i = 0; i < n; i++) ours.dispatchEvent(new CustomEvent('tick', { detail: i }))
      }),
      checked(NODE_ET, counts.node, (n) => {
        for (let i = 0; i < n; i++) node.dispatchEvent(new CustomEvent('tick', { detail: i }))
      }),
      checked(EMITTER, counts.emitter, (n) => {
        for (let i = 0; i < n; i++) emitter.emit('tick', i)
      }),
      checked(MAP, counts.map, (n) => {
        for (let i = 0; i < n; i++) {
          const event = new CustomEvent('tick', { detail: i })
          const set = map.get(event.type)
          if (set !== undefined) for (const fn of set) fn(event)
        }
      }),
    ],
    ratios: [
      { ours: OURS, theirs: NODE_ET, target },
      { ours: OURS, theirs: EMITTER },
      { ours: OURS, theirs: MAP },
    ],
  }
}

function prebuiltEvent(k: number): Comparison {
  const { ours, node, map, counts, checked } = setUp(k)
  const event = new CustomEvent('tick', { detail: 1 })
  return {
    title: `dispatchEvent(pre-built event) -> ${k} listener(s): dispatch alone, no construction`,
    unit: 'dispatch',
    contenders: [
      checked(OURS, counts.ours, (n) => {
        for (let i = 0; i < n; i++) ours.dispatchEvent(event)
      }),
      checked(NODE_ET, counts.node, (n) => {
        for (let i = 0; i < n; i++) node.dispatchEvent(event)
      }),
      checked(MAP, counts.map, (n) => {
        for (let i = 0; i < n; i++) {
          const set = map.get(event.type)
          if (set !== undefined) for (const fn of set) fn(event)
        }
      }),
    ],
    ratios: [
      { ours: OURS, theirs: NODE_ET },
      { ours: OURS, theirs: MAP },
    ],
  }
}

function construction(): Comparison {
  const built = { custom: 0, plain: 0 }
  return {
    title: 'event construction alone',
    unit: 'event',
    contenders: [
      {
        name: "new CustomEvent('tick', { detail: i })",
        run: (n) => {
          for (let i = 0; i < n; i++)
            built.custom += new CustomEvent('tick', { detail: i }).detail === i ? 1 : 0
        },
        check: (ops) => expectCount('new CustomEvent', built.custom, ops),
      },
      {
        name: "new Event('tick')",
        run: (n) => {
          for (let i = 0; i < n; i++) built.plain += new Event('tick').type === 'tick' ? 1 : 0
        },
        check: (ops) => expectCount('new Event', built.plain, ops),
      },
    ],
  }
}

export async function run(): Promise<void> {
  await compare(freshEvents(1, 1))
  await compare(freshEvents(10, 1.5))
  await compare(construction())
  await compare(prebuiltEvent(1))
  await compare(prebuiltEvent(10))
}
