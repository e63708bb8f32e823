import { describe, expect, it } from 'vitest'
import type { EventwireStats } from '../../src/index.js'
import {
  type ConformanceCapabilities,
  type ConformanceNode,
  type ConformanceTopology,
  conformanceCases,
  type TopologyContext,
} from '../../src/testing/index.js'
import { memoryHub } from '../support/memory-hub.js'

/**
 * Every conformance test can fail: each one is run against a target broken on purpose in the way it
 * checks, and must fail there, while the same targets unbroken pass every test. A test added to the suite
 * needs a broken target here (the last test below says which are missing).
 *
 * The targets are the core hub and its in-memory spokes, seen through a wrapper that one "defect" alters.
 */

type Listener = EventListenerOrEventListenerObject

/** A node as the suite sees it, with hooks a defect overrides; unaltered, it passes everything through. */
class Wrapped {
  isClosed = false
  constructor(readonly inner: ConformanceNode) {}

  addEventListener(type: string, listener: Listener | null, options?: AddEventListenerOptions | boolean) {
    this.inner.addEventListener(type, listener as never, options)
  }

  removeEventListener(type: string, listener: Listener | null, options?: EventListenerOptions | boolean) {
    this.inner.removeEventListener(type, listener as never, options)
  }

  dispatchEvent(event: Event): boolean {
    return this.inner.dispatchEvent(event as never)
  }

  flush(): Promise<void> {
    return this.inner.flush?.() ?? Promise.resolve()
  }

  stats(): EventwireStats {
    return this.inner.stats!()
  }

  /** After the topology broke this node's links (see `interrupt`). */
  interrupted(): void {}
}

interface Defect {
  /** What is broken. */
  readonly name: string
  /** The tests (names, as the suite gives them) that must fail because of it. */
  readonly breaks: readonly string[]
  readonly wrap: (inner: ConformanceNode) => Wrapped
}

const detailOf = (event: Event) => (event as CustomEvent).detail as unknown
const copy = (event: Event, detail = detailOf(event)) => new CustomEvent(event.type, { detail })

const TEST = {
  once: 'delivers each dispatch exactly once to every listener on every node, the dispatcher included',
  order: 'keeps per-dispatcher order over 1,000 events from concurrent dispatchers',
  recovery:
    'recovers from broken links: each event at most once and in order, everything after recovery delivered',
  options: 'honours once, signal, handleEvent with its this, and ignores duplicate adds',
  remove: 'stops delivering to a removed listener while others on the node keep receiving',
  churn: 'resubscribes after the last listener left and a new one arrived (add, remove, add)',
  throws: 'keeps calling listeners after one throws and reports ERR_LISTENER_THREW',
  details: 'round-trips details: nested, unicode, null, empty string, numbers, 1 MB',
  proto: 'carries a detail with a __proto__ key as plain data, polluting no prototype',
  names: 'reserves no event name: control-like and odd names are ordinary events',
  lifecycle: 'never dispatches lifecycle notices as application events',
  pubsub: 'carries createPubSub topics between nodes, with and without ids',
  requests:
    'answers requests across the topology: values, remote errors, timeouts, cancellation, nothing left behind',
  stats: 'counts dispatches and deliveries in stats()',
  closed:
    'after close(): dispatchEvent delivers nothing, returns false and reports ERR_CLOSED once; flush() rejects',
} as const

const DEFECTS: Defect[] = [
  {
    name: 'delivers every event twice',
    breaks: [TEST.once],
    wrap: (inner) =>
      new (class extends Wrapped {
        override dispatchEvent(event: Event) {
          super.dispatchEvent(copy(event))
          return super.dispatchEvent(event)
        }
      })(inner),
  },
  {
    name: 'sends every other event a task late',
    breaks: [TEST.order],
    wrap: (inner) =>
      new (class extends Wrapped {
        #n = 0
        override dispatchEvent(event: Event) {
          if (this.#n++ % 2 === 0) return super.dispatchEvent(event)
          setTimeout(() => super.dispatchEvent(event))
          return true
        }
      })(inner),
  },
  {
    name: 'forgets its listeners when a link breaks',
    breaks: [TEST.recovery, TEST.lifecycle],
    wrap: (inner) =>
      new (class extends Wrapped {
        #added: Array<[string, Listener]> = []
        override addEventListener(
          type: string,
          listener: Listener | null,
          options?: AddEventListenerOptions,
        ) {
          if (listener !== null) this.#added.push([type, listener])
          super.addEventListener(type, listener, options)
        }
        override interrupted() {
          for (const [type, listener] of this.#added) super.removeEventListener(type, listener)
        }
      })(inner),
  },
  {
    name: 'delivers the last events again after a link breaks',
    breaks: [TEST.recovery],
    wrap: (inner) =>
      new (class extends Wrapped {
        #last: Array<[Listener, Event]> = []
        override addEventListener(
          type: string,
          listener: Listener | null,
          options?: AddEventListenerOptions,
        ) {
          if (listener === null) return
          const recording = (event: Event) => {
            this.#last = [...this.#last.slice(-4), [listener, event]]
            call(listener, event)
          }
          super.addEventListener(type, recording, options)
        }
        override interrupted() {
          for (const [listener, event] of this.#last) call(listener, event)
        }
      })(inner),
  },
  {
    name: 'ignores listener options',
    breaks: [TEST.options],
    wrap: (inner) =>
      new (class extends Wrapped {
        override addEventListener(type: string, listener: Listener | null) {
          super.addEventListener(type, listener)
        }
      })(inner),
  },
  {
    name: 'cannot remove a listener',
    breaks: [TEST.remove, TEST.requests],
    wrap: (inner) =>
      new (class extends Wrapped {
        override removeEventListener() {}
      })(inner),
  },
  {
    name: 'never listens again to a type it stopped listening to',
    breaks: [TEST.churn],
    wrap: (inner) =>
      new (class extends Wrapped {
        readonly #counts = new Map<string, number>()
        readonly #left = new Set<string>()
        override addEventListener(
          type: string,
          listener: Listener | null,
          options?: AddEventListenerOptions,
        ) {
          if (this.#left.has(type)) return
          this.#counts.set(type, (this.#counts.get(type) ?? 0) + 1)
          super.addEventListener(type, listener, options)
        }
        override removeEventListener(type: string, listener: Listener | null) {
          const count = (this.#counts.get(type) ?? 0) - 1
          this.#counts.set(type, count)
          if (count === 0) this.#left.add(type)
          super.removeEventListener(type, listener)
        }
      })(inner),
  },
  {
    name: 'stops calling listeners after one throws',
    breaks: [TEST.throws],
    wrap: (inner) =>
      new (class extends Wrapped {
        readonly #byType = new Map<string, Listener[]>()
        override addEventListener(type: string, listener: Listener | null) {
          if (listener === null) return
          let list = this.#byType.get(type)
          if (list === undefined) {
            list = []
            this.#byType.set(type, list)
            const all = list
            // One listener calls them all, and a throw ends the call.
            super.addEventListener(type, (event: Event) => {
              for (const each of all) call(each, event)
            })
          }
          list.push(listener)
        }
      })(inner),
  },
  {
    name: 'cuts long strings in details',
    breaks: [TEST.details],
    wrap: (inner) =>
      new (class extends Wrapped {
        override dispatchEvent(event: Event) {
          const detail = detailOf(event)
          if (detail === undefined) return super.dispatchEvent(event)
          const cut = JSON.stringify(detail, (_, value) =>
            typeof value === 'string' ? value.slice(0, 1_000) : value,
          )
          return super.dispatchEvent(copy(event, JSON.parse(cut)))
        }
      })(inner),
  },
  {
    name: 'copies details with assignment (a __proto__ key sets the prototype)',
    breaks: [TEST.proto],
    wrap: (inner) =>
      new (class extends Wrapped {
        override dispatchEvent(event: Event) {
          const detail = detailOf(event)
          if (typeof detail !== 'object' || detail === null || Array.isArray(detail))
            return super.dispatchEvent(event)
          return super.dispatchEvent(copy(event, Object.assign({}, detail)))
        }
      })(inner),
  },
  {
    name: 'keeps control-like names for itself',
    breaks: [TEST.names],
    wrap: (inner) =>
      new (class extends Wrapped {
        override dispatchEvent(event: Event) {
          if (['sub', 'unsub', 'ping', 'pong', 'hello', 'error'].includes(event.type)) return true
          return super.dispatchEvent(event)
        }
      })(inner),
  },
  {
    name: 'dispatches a reconnection as an application event',
    breaks: [TEST.lifecycle],
    wrap: (inner) =>
      new (class extends Wrapped {
        override interrupted() {
          super.dispatchEvent(new CustomEvent('reconnecting'))
        }
      })(inner),
  },
  {
    name: 'drops types with a colon (pub/sub topics with an id)',
    breaks: [TEST.pubsub],
    wrap: (inner) =>
      new (class extends Wrapped {
        override dispatchEvent(event: Event) {
          return event.type.includes(':') ? true : super.dispatchEvent(event)
        }
      })(inner),
  },
  {
    name: 'counts each delivery twice',
    breaks: [TEST.stats],
    wrap: (inner) =>
      new (class extends Wrapped {
        override stats() {
          const stats = super.stats()
          return { ...stats, delivered: stats.delivered * 2 }
        }
      })(inner),
  },
  {
    name: 'accepts events after close, silently',
    breaks: [TEST.closed],
    wrap: (inner) =>
      new (class extends Wrapped {
        override dispatchEvent(event: Event) {
          return this.isClosed ? true : super.dispatchEvent(event)
        }
      })(inner),
  },
]

function call(listener: Listener, event: Event): void {
  if (typeof listener === 'function') listener(event)
  else listener.handleEvent(event)
}

/** The memory hub topology, each node seen through `wrap`. */
function wrappedTopology(wrap: (inner: ConformanceNode) => Wrapped) {
  const create = memoryHub()
  return async (context: TopologyContext): Promise<ConformanceTopology> => {
    const topology = await create(context)
    const nodes = topology.nodes.map(wrap)
    return {
      nodes: nodes as unknown as ConformanceNode[],
      interrupt: async (index) => {
        await topology.interrupt!(index)
        nodes[index]!.interrupted()
      },
      close: async () => {
        for (const node of nodes) node.isClosed = true
        await topology.close()
      },
    }
  }
}

// Failing tests wait for deliveries that never come: not for long.
const capabilities: ConformanceCapabilities = { interruptible: [1, 2], timeoutMs: 500 }

async function outcome(run: () => Promise<void>): Promise<'passed' | 'failed'> {
  try {
    await run()
    return 'passed'
  } catch {
    return 'failed'
  }
}

describe('the conformance suite can fail', () => {
  it('passes every test on the targets unbroken, seen through the same wrapper', async () => {
    const cases = conformanceCases(
      wrappedTopology((inner) => new Wrapped(inner)),
      capabilities,
    )
    expect(cases.map((test) => test.name).sort()).toEqual(Object.values(TEST).sort())
    for (const test of cases) expect(await outcome(() => test.run()), test.name).toBe('passed')
  }, 60_000)

  for (const defect of DEFECTS) {
    it(`fails on a target that ${defect.name}`, async () => {
      const cases = conformanceCases(wrappedTopology(defect.wrap), capabilities)
      for (const name of defect.breaks) {
        const test = cases.find((each) => each.name === name)
        expect(test, name).toBeDefined()
        expect(await outcome(() => test!.run()), name).toBe('failed')
      }
    }, 60_000)
  }

  it('has a broken target for every test of the suite', () => {
    const covered = new Set(DEFECTS.flatMap((defect) => defect.breaks))
    expect(Object.values(TEST).filter((name) => !covered.has(name))).toEqual([])
  })
})
