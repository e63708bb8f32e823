import { describe, expect, it } from 'vitest'
import { EventwireError } from '../core/errors.js'
import { defineEvents, type EventDeclaration, type StandardSchemaV1 } from '../core/schema.js'
import type { EventwireStats, EventwireStatus, TypedEvent, TypedEventTarget } from '../core/types.js'
import { createPubSub, type PubSubEventTarget } from '../pubsub/index.js'
import { request, respond } from '../request-reply/index.js'
import { waitFor } from './wait-for.js'

/** One node of a topology under test: any target, with the lifecycle surface where it has one. */
export interface ConformanceNode extends TypedEventTarget<TypedEvent> {
  flush?(): Promise<void>
  stats?(): EventwireStats
}

export interface ConformanceTopology {
  /** The nodes, each a separate participant of one topology (they may share state, as in-process does). */
  nodes: readonly ConformanceNode[]
  /**
   * Resolves once every listener added so far is known to the whole topology.
   * @default `flush()` on every node that has it
   */
  settle?(): Promise<void>
  /** Closes every node and frees every resource the topology holds. */
  close(): Promise<void>
  /**
   * Breaks the links of `nodes[index]` the way a network fault would (a socket dropped without a close
   * handshake, a Redis connection killed by the server) and resolves once the node has noticed. The node
   * must come back by itself; `settle()` must wait for that. Required for the nodes listed in
   * `capabilities.interruptible`.
   */
  interrupt?(index: number): Promise<void>
}

export interface TopologyContext {
  /** How many nodes the test asks for: 3, or `maxNodes` when the topology has fewer. */
  nodeCount: number
  /** Give this to every node as its `onError`: the suite asserts on what arrives. */
  onError: (error: EventwireError) => void
  /** The same as `onError`, for node `index`, where the suite asks which node heard of an error. */
  onErrorOf: (index: number) => (error: EventwireError) => void
  /**
   * Set when `capabilities.schemas` is: give `events` to every node that can take it (a node in another
   * thread may go without), except that node `sender` must not check what it dispatches (give it
   * `validate: { dispatched: false }`, or no declaration). Types other than the suite's are allowed.
   */
  schemas?: { events: EventDeclaration; sender: number | undefined }
  /**
   * Set when `capabilities.history` is: give the hub `history: { types }` (docs/recovery.md), so that a
   * spoke that reconnects is replayed what it missed of these types.
   */
  history?: { types: readonly string[] }
  /** Give this to node `index` as its `onStatus`, where the suite asks what a node reported. */
  onStatusOf: (index: number) => (status: EventwireStatus) => void
}

/** What a topology with schemas (`defineEvents`) proves; see `ConformanceCapabilities.schemas`. */
export interface SchemaCapabilities {
  /**
   * The schema of the detail of the suite's `checked` events, in the library under test: it must accept
   * `{ n: <number>, text: <string> }` and refuse `{ n: 'not a number', text: 'x' }` with an issue at `n`.
   * The suite also declares `checked-later`, the same schema answering asynchronously.
   */
  schema: StandardSchemaV1
  /** A node given the declaration, where an invalid detail must throw `ERR_INVALID` at the call. */
  dispatcher: number
  /**
   * A node that sends what it does not check; the topology must stop its invalid events before any other
   * node's listener (a hub, or receivers that check). Omit where nothing checks what arrives.
   */
  sender?: number
  /** The sender's own `onError` hears `ERR_INVALID` naming the field (a hub answers with an error frame). */
  senderLearns?: boolean
}

/** What differs between transports, stated as capabilities rather than names. */
export interface ConformanceCapabilities {
  /** Largest detail (a string of this many characters) the round-trip test sends. @default 1_000_000 */
  maxPayloadChars?: number
  /** How long one delivery wait may take, in ms. @default 10_000 */
  timeoutMs?: number
  /** The most nodes the topology can have, for two-party links (a MessagePort pair). @default 3 */
  maxNodes?: 2 | 3
  /**
   * Nodes whose links `topology.interrupt(index)` can break and that reconnect by themselves; with two or
   * more, the recovery test breaks a dispatcher and a receiver at once. @default none (no recovery test)
   */
  interruptible?: readonly number[]
  /**
   * Nodes that are targets in this thread, whose behaviour after `close()` the suite checks (a proxy to a
   * target in another thread cannot show it once that thread is gone). @default every node
   */
  local?: readonly number[]
  /**
   * The topology honours `context.schemas`: the suite runs every test with the declaration in place, plus
   * its schema tests (names starting with `schemas:`). @default none (no schema tests)
   */
  schemas?: SchemaCapabilities
  /**
   * The topology honours `context.history` (a hub with history, spokes that resume): with
   * `interruptible`, the suite proves that a spoke cut under a steady stream gets every event once, in
   * order, and reports `recovered`. @default false (no history test)
   */
  history?: boolean
}

interface Received {
  node: number
  type: string
  detail: unknown
}

/** One test of the conformance suite, to run outside `describeConformance` (one at a time). */
export interface ConformanceCase {
  readonly name: string
  /** Opens a topology, runs the test, and closes the topology; rejects when the test fails. */
  run(): Promise<void>
}

/**
 * Registers the conformance suite for one transport: every guarantee of docs/guarantees.md, asserted end
 * to end on real parts. `createTopology` is called once per test with the node count it needs.
 */
export function describeConformance(
  name: string,
  createTopology: (context: TopologyContext) => Promise<ConformanceTopology>,
  capabilities: ConformanceCapabilities = {},
): void {
  describe(`conformance: ${name}`, () => {
    for (const test of conformanceCases(createTopology, capabilities)) it(test.name, () => test.run())
  })
}

/**
 * The tests of the conformance suite as plain functions, for `describeConformance` and for a runner of
 * your own (the suite's own tests run each against deliberately broken targets, to show it can fail).
 * Run them one at a time: they share the topology they open.
 */
export function conformanceCases(
  createTopology: (context: TopologyContext) => Promise<ConformanceTopology>,
  capabilities: ConformanceCapabilities = {},
): ConformanceCase[] {
  const maxPayloadChars = capabilities.maxPayloadChars ?? 1_000_000
  const timeoutMs = capabilities.timeoutMs ?? 10_000
  const nodeCount = capabilities.maxNodes ?? 3
  const cases: ConformanceCase[] = []
  {
    let topology: ConformanceTopology | undefined
    let errors: EventwireError[] = []
    let errorsOf: EventwireError[][] = []
    let statusesOf: EventwireStatus[][] = []
    const schemaCapabilities = capabilities.schemas
    const schemas =
      schemaCapabilities === undefined
        ? undefined
        : {
            events: defineEvents(
              { checked: schemaCapabilities.schema, 'checked-later': later(schemaCapabilities.schema) },
              { otherTypes: 'allow' },
            ),
            sender: schemaCapabilities.sender,
          }
    const test = (name: string, body: () => Promise<void>) => {
      cases.push({
        name,
        run: async () => {
          errors = []
          errorsOf = []
          statusesOf = []
          try {
            await body()
          } finally {
            const opened = topology
            topology = undefined
            await opened?.close()
          }
        },
      })
    }

    async function open(): Promise<{ nodes: readonly ConformanceNode[]; settle: () => Promise<void> }> {
      const created = await createTopology({
        nodeCount,
        onError: (error) => errors.push(error),
        onErrorOf: (index) => (error) => {
          errors.push(error)
          errorsOf[index] ??= []
          errorsOf[index].push(error)
        },
        schemas,
        history: capabilities.history === true ? { types: HISTORY_TYPES } : undefined,
        onStatusOf: (index) => (status) => {
          statusesOf[index] ??= []
          statusesOf[index].push(status)
        },
      })
      topology = created
      expect(created.nodes.length).toBeGreaterThanOrEqual(nodeCount)
      const settle = async () => {
        if (created.settle) await created.settle()
        else await Promise.all(created.nodes.map((node) => node.flush?.()))
      }
      await settle()
      return { nodes: created.nodes, settle }
    }

    const until = (check: () => boolean, message: string) => waitFor(check, { timeoutMs, message })

    test('delivers each dispatch exactly once to every listener on every node, the dispatcher included', async () => {
      const { nodes, settle } = await open()
      const received: Received[] = []
      nodes.forEach((node, index) => {
        node.addEventListener('greet', (event) =>
          received.push({ node: index, type: event.type, detail: event.detail }),
        )
      })
      await settle()
      nodes.forEach((node, from) => {
        node.dispatchEvent(new CustomEvent('greet', { detail: { from } }))
        // Local listeners run synchronously, as with EventTarget.
        expect(
          received.filter((r) => r.node === from && (r.detail as { from: number }).from === from),
        ).toHaveLength(1)
      })
      const expected = nodes.length * nodes.length
      await until(() => received.length >= expected, `${expected} deliveries`)
      await settle()
      for (let node = 0; node < nodes.length; node++) {
        const froms = received
          .filter((r) => r.node === node)
          .map((r) => (r.detail as { from: number }).from)
          .sort((a, b) => a - b)
        expect(froms).toEqual(nodes.map((_, from) => from))
      }
      expect(received).toHaveLength(expected)
      expect(errors).toEqual([])
    })

    test('keeps per-dispatcher order over 1,000 events from concurrent dispatchers', async () => {
      const { nodes, settle } = await open()
      const count = 1_000
      const seen = nodes.map(() => new Map<number, number[]>())
      nodes.forEach((node, index) => {
        node.addEventListener('seq', (event) => {
          const { from, n } = event.detail as { from: number; n: number }
          const list = seen[index]!.get(from) ?? []
          list.push(n)
          seen[index]!.set(from, list)
        })
      })
      await settle()
      const dispatchers = [0, nodes.length - 1]
      for (let n = 0; n < count; n++) {
        for (const from of dispatchers)
          nodes[from]!.dispatchEvent(new CustomEvent('seq', { detail: { from, n } }))
      }
      const expected = Array.from({ length: count }, (_, n) => n)
      await until(
        () => seen.every((byFrom) => dispatchers.every((from) => (byFrom.get(from)?.length ?? 0) >= count)),
        'every node received every event',
      )
      await settle()
      for (const byFrom of seen) {
        for (const from of dispatchers) expect(byFrom.get(from)).toEqual(expected)
      }
    })

    if (schemaCapabilities !== undefined) {
      const { dispatcher, sender } = schemaCapabilities
      const valid = (n: number) => ({ n, text: 'ok' })
      const invalid = { n: 'not a number', text: 'x' }
      const namesField = (error: EventwireError) =>
        error.code === 'ERR_INVALID' && /\bn: /.test(error.message)

      test('schemas: an invalid detail throws ERR_INVALID at dispatchEvent, naming the field, and reaches no one', async () => {
        const { nodes, settle } = await open()
        const received = nodes.map(() => [] as unknown[])
        nodes.forEach((node, index) => {
          node.addEventListener('checked', (event) => received[index]!.push(event.detail))
        })
        await settle()
        let thrown: unknown
        try {
          nodes[dispatcher]!.dispatchEvent(new CustomEvent('checked', { detail: invalid }))
        } catch (error) {
          thrown = error
        }
        expect(thrown).toBeInstanceOf(EventwireError)
        expect((thrown as EventwireError).code).toBe('ERR_INVALID')
        expect((thrown as EventwireError).issues?.map((issue) => issue.path)).toContain('n')
        // A valid event after it arrives everywhere, alone.
        nodes[dispatcher]!.dispatchEvent(new CustomEvent('checked', { detail: valid(1) }))
        await until(() => received.every((list) => list.length >= 1), 'the valid event everywhere')
        await settle()
        for (const list of received) expect(list).toEqual([valid(1)])
      })

      if (sender !== undefined) {
        test('schemas: invalid events from a node that does not check reach no other listener and are reported naming the field; the valid ones around them arrive once, in order', async () => {
          const { nodes, settle } = await open()
          const others = nodes.map((_, index) => index).filter((index) => index !== sender)
          const received = nodes.map(() => ({ checked: [] as number[], later: [] as number[] }))
          nodes.forEach((node, index) => {
            node.addEventListener('checked', (event) =>
              received[index]!.checked.push((event.detail as { n: number }).n),
            )
            node.addEventListener('checked-later', (event) =>
              received[index]!.later.push((event.detail as { n: number }).n),
            )
          })
          await settle()
          const count = 20
          for (let n = 0; n < count; n++) {
            // Synchronous and asynchronous schemas interleaved, an invalid event between valid ones.
            nodes[sender]!.dispatchEvent(new CustomEvent('checked', { detail: valid(n) }))
            nodes[sender]!.dispatchEvent(new CustomEvent('checked-later', { detail: invalid }))
            nodes[sender]!.dispatchEvent(new CustomEvent('checked-later', { detail: valid(n) }))
            nodes[sender]!.dispatchEvent(new CustomEvent('checked', { detail: invalid }))
          }
          const expected = Array.from({ length: count }, (_, n) => n)
          await until(
            () =>
              others.every(
                (index) => received[index]!.checked.length >= count && received[index]!.later.length >= count,
              ),
            'every valid event at every other node',
          )
          await settle()
          for (const index of others) {
            expect(received[index]!.checked, `node ${index}`).toEqual(expected)
            expect(received[index]!.later, `node ${index}`).toEqual(expected)
          }
          await until(() => errors.some(namesField), 'ERR_INVALID naming the field reported')
          if (schemaCapabilities.senderLearns) {
            await until(() => (errorsOf[sender] ?? []).some(namesField), 'the sender told which field')
          }
          expect(errors.filter((error) => error.code !== 'ERR_INVALID')).toEqual([])
        })
      }
    }

    const interruptible = capabilities.interruptible ?? []
    if (interruptible.length > 0) {
      test('recovers from broken links: each event at most once and in order, everything after recovery delivered', async () => {
        const { nodes, settle } = await open()
        const interrupt = topology?.interrupt
        if (interrupt === undefined) throw new Error('capabilities.interruptible needs topology.interrupt')
        const dispatcher = interruptible[0]!
        const broken = interruptible.slice(0, 2)
        const receivers = nodes.map((_, index) => index).filter((index) => index !== dispatcher)
        const seen = nodes.map(() => [] as number[])
        for (const index of receivers) {
          nodes[index]!.addEventListener('recover', (event) => seen[index]!.push(event.detail as number))
        }
        await settle()
        const dispatch = (from: number, to: number) => {
          for (let n = from; n <= to; n++)
            nodes[dispatcher]!.dispatchEvent(new CustomEvent('recover', { detail: n }))
        }
        dispatch(1, 20)
        await settle()
        await until(
          () => receivers.every((index) => seen[index]!.length === 20),
          'the events before the break',
        )
        await Promise.all(broken.map((index) => interrupt.call(topology, index)))
        // Dispatched while links are down: each may be lost, but never duplicated or reordered.
        dispatch(21, 40)
        await settle()
        dispatch(41, 60)
        await settle()
        await until(() => receivers.every((index) => seen[index]!.at(-1) === 60), 'the events after recovery')
        await settle()
        const after = Array.from({ length: 20 }, (_, i) => 41 + i)
        for (const index of receivers) {
          const got = seen[index]!
          expect(got.slice(0, 20)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1))
          expect(got.every((n, i) => i === 0 || n > got[i - 1]!)).toBe(true)
          expect(got.filter((n) => n > 40)).toEqual(after)
        }
        // A broken link may be reported; nothing else may be.
        expect(errors.filter((error) => error.code !== 'ERR_CONNECTION')).toEqual([])
      })
    }

    if (interruptible.length > 0 && capabilities.history === true) {
      test('history: a spoke cut under a steady stream gets every event once, in order, and reports recovered', async () => {
        const { nodes, settle } = await open()
        const interrupt = topology!.interrupt!
        const receiver = interruptible[0]!
        // A spoke that stays, else the hub: its events go through the hub's history like any other.
        const dispatcher = [...nodes.keys()].reverse().find((index) => !interruptible.includes(index)) ?? 0
        const got: number[] = []
        nodes[receiver]!.addEventListener('steady', (event) => got.push(event.detail as number))
        await settle()
        let sent = 0
        const burst = () => {
          for (let i = 0; i < 20; i++)
            nodes[dispatcher]!.dispatchEvent(new CustomEvent('steady', { detail: ++sent }))
        }
        const timer = setInterval(burst, 2)
        try {
          await until(() => got.length >= 100, 'the stream before the cut')
          const connectedBefore = (statusesOf[receiver] ?? []).filter((s) => s.type === 'connected').length
          await interrupt.call(topology, receiver)
          const cutAt = sent
          await until(
            () => (statusesOf[receiver] ?? []).filter((s) => s.type === 'connected').length > connectedBefore,
            'the spoke back',
          )
          await until(() => sent >= cutAt + 100, 'the stream after the cut')
        } finally {
          clearInterval(timer)
        }
        await settle()
        await until(() => got.length >= sent, `all ${sent} events`)
        await settle()
        expect(got.length).toBe(sent)
        expect(got.every((n, i) => n === i + 1)).toBe(true)
        expect(statusesOf[receiver]).toContainEqual(
          expect.objectContaining({ type: 'recovered', eventType: 'steady' }),
        )
        expect(
          (statusesOf[receiver] ?? []).filter((s) => s.type === 'gap' && s.eventType === 'steady'),
        ).toEqual([])
        expect(errors.filter((error) => error.code !== 'ERR_CONNECTION')).toEqual([])
      })
    }

    test('honours once, signal, handleEvent with its this, and ignores duplicate adds', async () => {
      const { nodes, settle } = await open()
      const remote = nodes[1]!
      const calls: string[] = []
      remote.addEventListener('opt', () => calls.push('once'), { once: true })
      const controller = new AbortController()
      remote.addEventListener('opt', () => calls.push('signal'), { signal: controller.signal })
      const aborted = new AbortController()
      aborted.abort()
      remote.addEventListener('opt', () => calls.push('pre-aborted'), { signal: aborted.signal })
      const handler = {
        label: 'object',
        handleEvent(this: { label: string }) {
          calls.push(this.label)
        },
      }
      remote.addEventListener('opt', handler)
      const twice = () => calls.push('twice')
      remote.addEventListener('opt', twice)
      remote.addEventListener('opt', twice)
      const marks: number[] = []
      remote.addEventListener('opt', (event) => marks.push(event.detail as number))
      await settle()

      nodes[0]!.dispatchEvent(new CustomEvent('opt', { detail: 1 }))
      await until(() => marks.length === 1, 'first event')
      controller.abort()
      nodes[0]!.dispatchEvent(new CustomEvent('opt', { detail: 2 }))
      await until(() => marks.length === 2, 'second event')
      expect(marks).toEqual([1, 2])
      expect(calls).toEqual(['once', 'signal', 'object', 'twice', 'object', 'twice'])
    })

    test('stops delivering to a removed listener while others on the node keep receiving', async () => {
      const { nodes, settle } = await open()
      const remote = nodes.at(-1)!
      const removed: unknown[] = []
      const kept: unknown[] = []
      const removedListener = (event: Event) => removed.push((event as CustomEvent).detail)
      remote.addEventListener('rm', removedListener)
      remote.addEventListener('rm', (event) => kept.push(event.detail))
      await settle()
      nodes[0]!.dispatchEvent(new CustomEvent('rm', { detail: 'a' }))
      await until(() => kept.length === 1, 'first event')
      remote.removeEventListener('rm', removedListener)
      nodes[0]!.dispatchEvent(new CustomEvent('rm', { detail: 'b' }))
      await until(() => kept.length === 2, 'second event')
      expect(removed).toEqual(['a'])
      expect(kept).toEqual(['a', 'b'])
    })

    test('resubscribes after the last listener left and a new one arrived (add, remove, add)', async () => {
      const { nodes, settle } = await open()
      const remote = nodes[1]!
      const first = () => {}
      remote.addEventListener('churn', first)
      remote.removeEventListener('churn', first)
      remote.addEventListener('churn', first)
      remote.removeEventListener('churn', first)
      await settle()
      const got: unknown[] = []
      remote.addEventListener('churn', (event) => got.push(event.detail))
      await settle()
      nodes[0]!.dispatchEvent(new CustomEvent('churn', { detail: 'back' }))
      await until(() => got.length === 1, 'delivery after resubscribe')
      await settle()
      expect(got).toEqual(['back'])
    })

    test('keeps calling listeners after one throws and reports ERR_LISTENER_THREW', async () => {
      const { nodes, settle } = await open()
      const got: string[] = []
      const boom = new Error('listener failure')
      for (const node of nodes) {
        node.addEventListener('throwing', () => {
          throw boom
        })
        node.addEventListener('throwing', (event) => got.push(event.detail as string))
      }
      await settle()
      nodes[0]!.dispatchEvent(new CustomEvent('throwing', { detail: 'still here' }))
      await until(() => got.length === nodes.length, 'every node delivered')
      expect(got).toEqual(nodes.map(() => 'still here'))
      await until(() => errors.length >= nodes.length, 'errors reported')
      const thrown = errors.filter((error) => error.code === 'ERR_LISTENER_THREW')
      expect(thrown.length).toBeGreaterThanOrEqual(nodes.length)
      expect(thrown.every((error) => error.cause === boom && error.eventType === 'throwing')).toBe(true)
    })

    test('round-trips details: nested, unicode, null, empty string, numbers, 1 MB', async () => {
      const { nodes, settle } = await open()
      const big = 'x'.repeat(maxPayloadChars - 16)
      const payloads: unknown[] = [
        { nested: { deep: [1, { deeper: [true, false, null] }] }, list: [] },
        'héllo wörld ✓ 日本語 🚀 \u0000 \u2028',
        null,
        '',
        0,
        -1.5,
        [1, 'two', { three: 3 }],
        { big },
      ]
      const got: unknown[] = []
      nodes.at(-1)!.addEventListener('payload', (event) => got.push(event.detail))
      await settle()
      for (const detail of payloads) nodes[0]!.dispatchEvent(new CustomEvent('payload', { detail }))
      await until(() => got.length === payloads.length, 'every payload')
      expect(got).toEqual(payloads)
    })

    test('carries a detail with a __proto__ key as plain data, polluting no prototype', async () => {
      const { nodes, settle } = await open()
      const got: unknown[] = []
      nodes.at(-1)!.addEventListener('proto', (event) => got.push(event.detail))
      await settle()
      const hostile = JSON.parse(
        '{"__proto__":{"polluted":true},"constructor":{"prototype":{"polluted":true}}}',
      )
      nodes[0]!.dispatchEvent(new CustomEvent('proto', { detail: hostile }))
      await until(() => got.length === 1, 'the hostile detail')
      expect(({} as { polluted?: unknown }).polluted).toBeUndefined()
      expect(Object.getPrototypeOf(got[0])).toBe(Object.prototype)
      expect(Object.hasOwn(got[0] as object, '__proto__')).toBe(true)
    })

    test('reserves no event name: control-like and odd names are ordinary events', async () => {
      const { nodes, settle } = await open()
      const names = [
        'sub',
        'unsub',
        'ping',
        'pong',
        'hello',
        'error',
        '__proto__',
        'constructor',
        '0',
        'a:b/c.d*',
      ]
      const got: string[] = []
      for (const name of names) nodes[1]!.addEventListener(name, (event) => got.push(event.type))
      await settle()
      for (const name of names) nodes[0]!.dispatchEvent(new CustomEvent(name, { detail: name }))
      await until(() => got.length === names.length, 'every name')
      expect([...got].sort()).toEqual([...names].sort())
    })

    test('never dispatches lifecycle notices as application events', async () => {
      const { nodes, settle } = await open()
      const lifecycle = [
        'open',
        'close',
        'connected',
        'disconnected',
        'reconnecting',
        'gap',
        'ready',
        'message',
      ]
      const got: string[] = []
      for (const node of nodes)
        for (const name of lifecycle) node.addEventListener(name, () => got.push(name))
      await settle()
      const done: unknown[] = []
      nodes[1]!.addEventListener('after', (event) => done.push(event.detail))
      await settle()
      // The connections change under the listeners: a link breaks and comes back, where one can.
      const interrupt = topology?.interrupt
      if (interruptible.length > 0 && interrupt !== undefined) {
        await interrupt.call(topology, interruptible[0]!)
        await settle()
      }
      nodes[0]!.dispatchEvent(new CustomEvent('after', { detail: 1 }))
      await until(() => done.length === 1, 'a delivery')
      await settle()
      expect(got).toEqual([])
    })

    test('carries createPubSub topics between nodes, with and without ids', async () => {
      const { nodes, settle } = await open()
      type Topics = { chat: [text: string]; user: [id: string, name: string] }
      const on = (node: ConformanceNode) => node as unknown as PubSubEventTarget<Topics>
      const subscriber = createPubSub<Topics>({ eventTarget: on(nodes[1]!) })
      const publisher = createPubSub<Topics>({ eventTarget: on(nodes[0]!) })
      const chat = subscriber.subscribe('chat')
      const user = subscriber.subscribe('user', 'u1')
      await settle()
      publisher.publish('chat', 'hello')
      publisher.publish('user', 'u2', 'not this one')
      publisher.publish('user', 'u1', 'ada')
      publisher.publish('chat', 'again')
      const within = async <T>(promise: Promise<T>): Promise<T> => {
        let timer: ReturnType<typeof setTimeout> | undefined
        const timeout = new Promise<never>((_, reject) => {
          timer = setTimeout(
            () => reject(new EventwireError('ERR_TIMEOUT', 'no value from the subscription')),
            timeoutMs,
          )
        })
        try {
          return await Promise.race([promise, timeout])
        } finally {
          clearTimeout(timer)
        }
      }
      expect(await within(chat.next())).toEqual({ value: 'hello', done: false })
      expect(await within(chat.next())).toEqual({ value: 'again', done: false })
      expect(await within(user.next())).toEqual({ value: 'ada', done: false })
      await chat.return()
      await user.return()
      expect(subscriber.stats().subscriptions).toBe(0)
    })

    test('answers requests across the topology: values, remote errors, timeouts, cancellation, nothing left behind', async () => {
      const { nodes, settle } = await open()
      // The requester is the last node: a spoke where there is a hub, whose stats() count its own interest.
      const requester = nodes.at(-1)!
      const responder = nodes[0]!
      const stopDouble = respond<number, number>(responder, 'double', (n) => n * 2)
      const stopFail = respond(responder, 'fail', () => {
        throw new Error('no such order')
      })
      await settle()
      const subscriptionsBefore = requester.stats?.().subscriptions
      expect(await request(requester, 'double', 21, { timeoutMs })).toBe(42)
      const answers = await Promise.all([1, 2, 3].map((n) => request(requester, 'double', n, { timeoutMs })))
      expect(answers).toEqual([2, 4, 6])
      await expect(request(requester, 'fail', null, { timeoutMs })).rejects.toMatchObject({
        code: 'ERR_REMOTE',
        message: expect.stringContaining('no such order'),
      })
      await expect(request(requester, 'nobody-answers', null, { timeoutMs: 50 })).rejects.toMatchObject({
        code: 'ERR_TIMEOUT',
      })
      const controller = new AbortController()
      const cancelled = request(requester, 'nobody-answers', null, { timeoutMs, signal: controller.signal })
      controller.abort(new Error('user left'))
      await expect(cancelled).rejects.toMatchObject({ code: 'ERR_ABORTED' })
      // No reply listener is left behind once nothing is pending (it leaves at the end of that task).
      if (subscriptionsBefore !== undefined) {
        await until(() => requester.stats!().subscriptions === subscriptionsBefore, 'the reply listener left')
      }
      stopDouble()
      stopFail()
    })

    test('counts dispatches and deliveries in stats()', async () => {
      const { nodes, settle } = await open()
      // One target may stand for several nodes (in-process); a proxy to another thread has no stats().
      const targets = [...new Set(nodes)].filter((node) => typeof node.stats === 'function')
      expect(targets.length, 'nodes with stats()').toBeGreaterThan(0)
      let calls = 0
      for (const node of nodes) node.addEventListener('counted', () => calls++)
      await settle()
      const before = targets.map((node) => node.stats!())
      nodes[0]!.dispatchEvent(new CustomEvent('counted'))
      nodes[0]!.dispatchEvent(new CustomEvent('counted'))
      await until(() => calls === 2 * nodes.length, 'every node delivered')
      await settle()
      targets.forEach((target, i) => {
        const after = target.stats!()
        // Each listener call on the target is counted once; each dispatchEvent on it once (a bridge
        // hands a node the events it forwards with dispatchEvent, once each).
        const listeners = nodes.filter((node) => node === target).length
        expect(after.delivered - before[i]!.delivered, 'delivered').toBe(2 * listeners)
        const dispatched = after.dispatched - before[i]!.dispatched
        if (target === nodes[0]) expect(dispatched, 'dispatched').toBe(2)
        else expect([0, 2], 'dispatched').toContain(dispatched)
      })
      expect(calls).toBe(2 * nodes.length)
    })

    test('after close(): dispatchEvent delivers nothing, returns false and reports ERR_CLOSED once; flush() rejects', async () => {
      const opened = await open()
      // One target may stand for several nodes (in-process): each target reports once.
      const nodes = [...new Set((capabilities.local ?? opened.nodes.keys()) as Iterable<number>)].map(
        (index) => opened.nodes[index]!,
      )
      const targets = new Set(nodes)
      const got: number[] = []
      nodes.forEach((node, index) => {
        node.addEventListener('closed', () => got.push(index))
      })
      await topology!.close()
      topology = undefined
      errors = []
      for (const node of nodes) {
        expect(node.dispatchEvent(new CustomEvent('closed'))).toBe(false)
        expect(node.dispatchEvent(new CustomEvent('closed'))).toBe(false)
      }
      expect(got).toEqual([])
      const closedReports = errors.filter((error) => error.code === 'ERR_CLOSED')
      expect(closedReports.length).toBe(targets.size)
      for (const node of targets) {
        if (node.flush !== undefined) await expect(node.flush()).rejects.toMatchObject({ code: 'ERR_CLOSED' })
      }
    })
  }
  return cases
}

/** The types a topology with `capabilities.history` keeps a history of. */
const HISTORY_TYPES: readonly string[] = Object.freeze(['steady'])

/** The same schema answering asynchronously, a task later: order must hold behind it. */
function later(schema: StandardSchemaV1): StandardSchemaV1 {
  return {
    '~standard': {
      version: 1,
      vendor: 'eventwire-conformance',
      validate: async (value) => {
        await new Promise((resolve) => setTimeout(resolve, 0))
        return schema['~standard'].validate(value)
      },
    },
  }
}
