import { getEventListeners } from 'node:events'
import { MessageChannel, type MessagePort } from 'node:worker_threads'
import { afterEach, describe, expect, it } from 'vitest'
import type { EventwireError } from '../../src/core/errors.js'
import type { HubConnectionInfo } from '../../src/core/hub.js'
import type { LinkCloseInfo } from '../../src/core/link.js'
import type { EventwireStatus } from '../../src/core/types.js'
import {
  createWorkerEventTarget,
  createWorkerHubEventTarget,
  type WorkerHubConnection,
  type WorkerHubEventTarget,
} from '../../src/event-target-worker/index.js'
import { waitFor } from '../../src/testing/index.js'
import { WorkerNode } from '../support/worker-node.js'

const range = (count: number) => Array.from({ length: count }, (_, n) => n)
const nextTask = () => new Promise((resolve) => setImmediate(resolve))

/** Everything a test opened, closed after it whatever happened. */
const opened: Array<{ close(): Promise<void> }> = []
afterEach(async () => {
  for (const item of opened.splice(0).reverse()) await item.close()
})

interface HubPool {
  hub: WorkerHubEventTarget
  nodes: WorkerNode[]
  handles: WorkerHubConnection[]
  connections: HubConnectionInfo[]
  /** Per worker, the details of `tick` its listener received. */
  ticks: number[][]
  errors: EventwireError[]
  workerErrors: EventwireError[]
  disconnections: Array<{ id: string; info: LinkCloseInfo }>
}

/** A worker hub with `count` real workers, each listening to `tick`. */
async function startPool(count: number): Promise<HubPool> {
  const errors: EventwireError[] = []
  const workerErrors: EventwireError[] = []
  const disconnections: HubPool['disconnections'] = []
  const hub = createWorkerHubEventTarget({
    onError: (error) => errors.push(error),
    onDisconnection: (connection, info) => disconnections.push({ id: connection.id, info }),
  })
  opened.push(hub)
  const nodes = await Promise.all(
    range(count).map(() => WorkerNode.start({ endpoint: 'parent', onError: (e) => workerErrors.push(e) })),
  )
  opened.push(...nodes)
  const handles = nodes.map((node) => hub.add(node.worker))
  const connections = handles.map((handle) => handle.info)
  await Promise.all(nodes.map((node) => node.open()))
  const ticks = nodes.map(() => [] as number[])
  nodes.forEach((node, i) => {
    node.addEventListener('tick', (event) => ticks[i]!.push(event.detail as number))
  })
  await Promise.all(nodes.map((node) => node.flush()))
  return { hub, nodes, handles, connections, ticks, errors, workerErrors, disconnections }
}

/** Dispatches `tick` 0..count-1 on the hub, 10 per task, so that a worker can fail mid-stream. */
async function stream(hub: WorkerHubEventTarget, from: number, count: number): Promise<void> {
  for (let n = from; n < from + count; n++) {
    hub.dispatchEvent(new CustomEvent('tick', { detail: n }))
    if (n % 10 === 9) await nextTask()
  }
}

describe('worker hub: a worker that fails mid-stream', () => {
  it('exits (process.exit): removed and counted; the other workers receive every event', async () => {
    const pool = await startPool(3)
    const [dying, ...others] = pool.nodes
    dying!.exitAfter('tick', 50)
    await dying!.flush()
    expect(pool.hub.stats().connections).toBe(3)

    await stream(pool.hub, 0, 300)
    await waitFor(() => pool.hub.stats().connections === 2, { message: 'the exited worker removed' })
    await waitFor(() => pool.ticks[1]!.length === 300 && pool.ticks[2]!.length === 300, {
      message: 'every tick at the surviving workers',
    })
    expect(await dying!.exited).toBe(3)
    expect(pool.ticks[0]).toEqual(range(50))
    expect(pool.ticks[1]).toEqual(range(300))
    expect(pool.ticks[2]).toEqual(range(300))
    expect(pool.disconnections).toEqual([
      { id: pool.connections[0]!.id, info: { code: 1001, reason: 'worker exited with code 3' } },
    ])
    expect(pool.errors).toEqual([])

    // Routing among the survivors goes on: worker 1 -> hub -> worker 2.
    const relayed: unknown[] = []
    others[1]!.addEventListener('after', (event) => relayed.push(event.detail))
    await others[1]!.flush()
    others[0]!.dispatchEvent(new CustomEvent('after', { detail: 'still routing' }))
    await waitFor(() => relayed.length === 1)
    expect(relayed).toEqual(['still routing'])
    expect(pool.hub.remoteTypes().sort()).toEqual(['after', 'tick'])
  })

  it('throws an uncaught error: reported, removed and counted; this thread and the others carry on', async () => {
    const pool = await startPool(3)
    pool.nodes[0]!.throwAfter('tick', 50)
    await pool.nodes[0]!.flush()

    await stream(pool.hub, 0, 300)
    await waitFor(() => pool.hub.stats().connections === 2, { message: 'the crashed worker removed' })
    await waitFor(() => pool.ticks[1]!.length === 300 && pool.ticks[2]!.length === 300)
    expect(await pool.nodes[0]!.exited).toBe(1)
    // The worker may take a few more ticks between the throw and its end; what it got is a prefix.
    expect(pool.ticks[0]!.length).toBeGreaterThanOrEqual(50)
    expect(pool.ticks[0]).toEqual(range(pool.ticks[0]!.length))
    expect(pool.ticks[1]).toEqual(range(300))
    expect(pool.ticks[2]).toEqual(range(300))

    expect(pool.errors.map((error) => [error.code, error.message, (error.cause as Error).message])).toEqual([
      ['ERR_CONNECTION', 'the worker threw an uncaught error', 'worker failure'],
    ])
    expect(pool.disconnections).toHaveLength(1)
    expect(pool.disconnections[0]!.id).toBe(pool.connections[0]!.id)
    expect(pool.disconnections[0]!.info.code).toBe(1011)
    expect(pool.disconnections[0]!.info.error).toBe(pool.errors[0])
    expect(pool.hub.stats().errors).toBe(1)
  })

  it('terminated from the main thread: removed and counted', async () => {
    const pool = await startPool(2)
    await pool.nodes[0]!.worker.terminate()
    await waitFor(() => pool.hub.stats().connections === 1)
    expect(pool.disconnections.map((d) => d.id)).toEqual([pool.connections[0]!.id])
    await stream(pool.hub, 0, 20)
    await waitFor(() => pool.ticks[1]!.length === 20)
    expect(pool.ticks[1]).toEqual(range(20))
    expect(pool.errors).toEqual([])
  })

  it('remove(): posts what was queued in this task, then stops routing to that worker only', async () => {
    const pool = await startPool(2)
    const removed = pool.nodes[0]!
    const listenersBefore = getEventListeners(removed.worker, 'message').length

    pool.hub.dispatchEvent(new CustomEvent('tick', { detail: 0 }))
    await pool.handles[0]!.remove()
    expect(pool.hub.stats().connections).toBe(1)
    expect(pool.disconnections).toEqual([
      { id: pool.connections[0]!.id, info: { code: 1000, reason: 'removed' } },
    ])
    expect(getEventListeners(removed.worker, 'message').length).toBe(listenersBefore - 1)

    pool.hub.dispatchEvent(new CustomEvent('tick', { detail: 1 }))
    await waitFor(() => pool.ticks[1]!.length === 2 && pool.ticks[0]!.length === 1)
    // Tick 0 went to both workers, tick 1 only to the one still added.
    expect(pool.hub.stats().sent).toBe(3)
    expect(pool.ticks[0]).toEqual([0])
    expect(pool.ticks[1]).toEqual([0, 1])
  })
})

/** The main thread and one worker as two peers over Worker / parentPort. */
async function startPair() {
  const errors: EventwireError[] = []
  const workerErrors: EventwireError[] = []
  const statuses: EventwireStatus['type'][] = []
  const node = await WorkerNode.start({ endpoint: 'parent', onError: (e) => workerErrors.push(e) })
  opened.push(node)
  const main = createWorkerEventTarget(node.worker, {
    onError: (error) => errors.push(error),
    onStatus: (status) => statuses.push(status.type),
  })
  opened.push(main)
  await node.open()
  await main.ready
  return { main, node, errors, workerErrors, statuses }
}

describe('worker: details that cannot be cloned', () => {
  it('main -> worker: ERR_SERIALIZE to the dispatcher, the rest of the batch arrives', async () => {
    const { main, node, errors } = await startPair()
    const remote: unknown[] = []
    node.addEventListener('x', (event) => remote.push(event.detail))
    await node.flush()
    const local: unknown[] = []
    main.addEventListener('x', (event) => local.push(event.detail))
    const fn = () => 'not cloneable'
    for (const detail of [1, fn, 3]) main.dispatchEvent(new CustomEvent('x', { detail }))
    main.dispatchEvent(new CustomEvent('x', { detail: 4 }))
    expect(local).toEqual([1, fn, 3, 4]) // local delivery is synchronous and needs no clone
    await waitFor(() => remote.length === 3)
    await main.flush()
    expect(remote).toEqual([1, 3, 4])
    expect(errors.map((e) => [e.code, e.eventType, (e.cause as Error).name])).toEqual([
      ['ERR_SERIALIZE', 'x', 'DataCloneError'],
    ])
    expect(main.stats().dropped).toBe(1)
    expect(main.stats().sent).toBe(3)
  })

  it('worker -> main: the onError in the worker gets ERR_SERIALIZE, the other events arrive', async () => {
    const { main, node, errors, workerErrors } = await startPair()
    const got: unknown[] = []
    main.addEventListener('y', (event) => got.push(event.detail))
    await main.flush()
    node.dispatchUncloneable('y')
    await waitFor(() => got.length === 2 && workerErrors.length === 1)
    expect(got).toEqual(['before', 'after'])
    expect(workerErrors.map((e) => [e.code, e.eventType])).toEqual([['ERR_SERIALIZE', 'y']])
    expect(errors).toEqual([])
  })

  it('hub -> workers: one ERR_SERIALIZE per worker that wanted it, later events flow', async () => {
    const pool = await startPool(2)
    pool.hub.dispatchEvent(new CustomEvent('tick', { detail: Symbol('no') }))
    pool.hub.dispatchEvent(new CustomEvent('tick', { detail: 7 }))
    await waitFor(() => pool.ticks.every((list) => list.length === 1))
    expect(pool.ticks).toEqual([[7], [7]])
    expect(pool.errors.map((e) => [e.code, e.eventType])).toEqual([
      ['ERR_SERIALIZE', 'tick'],
      ['ERR_SERIALIZE', 'tick'],
    ])
    expect(pool.hub.stats().connections).toBe(2)
  })

  it('BroadcastChannel: ERR_SERIALIZE to the dispatcher, the other events arrive', async () => {
    const name = `faults-${Math.random()}`
    const channels = [new BroadcastChannel(name), new BroadcastChannel(name)]
    opened.push({
      close: async () => {
        for (const channel of channels) channel.close()
      },
    })
    const errors: EventwireError[] = []
    const [a, b] = channels.map((channel) =>
      createWorkerEventTarget(channel, { onError: (e) => errors.push(e) }),
    )
    opened.push(a!, b!)
    const got: unknown[] = []
    b!.addEventListener('z', (event) => got.push(event.detail))
    for (const detail of ['one', () => 0, 'three']) a!.dispatchEvent(new CustomEvent('z', { detail }))
    await waitFor(() => got.length === 2)
    await a!.flush()
    expect(got).toEqual(['one', 'three'])
    expect(errors.map((e) => [e.code, e.eventType])).toEqual([['ERR_SERIALIZE', 'z']])
  })
})

describe('worker: foreign messages on the link', () => {
  it('a non-frame message from a worker: ERR_FRAME_MALFORMED at the hub, counted; the link keeps flowing', async () => {
    const pool = await startPool(1)
    const got: unknown[] = []
    pool.hub.addEventListener('up', (event) => got.push(event.detail))
    pool.nodes[0]!.postRaw({ not: 'a frame' })
    pool.nodes[0]!.dispatchEvent(new CustomEvent('up', { detail: 'after' }))
    await waitFor(() => got.length === 1 && pool.workerErrors.length === 1)
    expect(got).toEqual(['after'])
    expect(pool.errors.map((e) => e.code)).toEqual(['ERR_FRAME_MALFORMED'])
    expect(pool.hub.stats().dropped).toBe(1)
    // The hub answers with an error frame, which the worker reports.
    expect(pool.workerErrors.map((e) => e.code)).toEqual(['ERR_FRAME_MALFORMED'])
    expect(pool.hub.stats().connections).toBe(1)
  })

  it('a foreign message on a BroadcastChannel: ERR_FRAME_MALFORMED, counted, later events delivered', async () => {
    const name = `foreign-${Math.random()}`
    const foreign = new BroadcastChannel(name)
    const channel = new BroadcastChannel(name)
    opened.push({
      close: async () => {
        foreign.close()
        channel.close()
      },
    })
    const errors: EventwireError[] = []
    const target = createWorkerEventTarget(channel, { onError: (e) => errors.push(e) })
    opened.push(target)
    const got: unknown[] = []
    target.addEventListener('ok', (event) => got.push(event.detail))
    foreign.postMessage('hello?')
    foreign.postMessage([2, 'ok']) // a sub frame: meaningless on a channel
    foreign.postMessage([1, 'ok', 'someone', 'fine'])
    await waitFor(() => got.length === 1)
    expect(got).toEqual(['fine'])
    expect(errors.map((e) => e.code)).toEqual(['ERR_FRAME_MALFORMED', 'ERR_FRAME_MALFORMED'])
    expect(target.stats().dropped).toBe(2)
  })
})

describe('worker: a message that cannot be deserialized (messageerror)', () => {
  // A real deserialization failure needs a platform quirk; the event the platform would fire is
  // dispatched on a real port instead, and everything around it is real.
  const messageError = (port: MessagePort) =>
    port.dispatchEvent(new MessageEvent('messageerror', { data: new Error('could not deserialize') }))

  it('a peer counts it as dropped and reports ERR_SERIALIZE; both directions keep flowing', async () => {
    const { port1, port2 } = new MessageChannel()
    const errors: EventwireError[] = []
    const target = createWorkerEventTarget(port1, { onError: (e) => errors.push(e) })
    const other = createWorkerEventTarget(port2)
    opened.push(target, other, { close: async () => port1.close() })
    const here: unknown[] = []
    const there: unknown[] = []
    target.addEventListener('in', (event) => here.push(event.detail))
    other.addEventListener('out', (event) => there.push(event.detail))
    await Promise.all([target.flush(), other.flush()])
    messageError(port1)
    other.dispatchEvent(new CustomEvent('in', { detail: 'after' }))
    target.dispatchEvent(new CustomEvent('out', { detail: 'after' }))
    await waitFor(() => here.length === 1 && there.length === 1)
    expect([here, there]).toEqual([['after'], ['after']])
    expect(errors.map((e) => e.code)).toEqual(['ERR_SERIALIZE'])
    expect(target.stats()).toMatchObject({ dropped: 1, connections: 1 })
  })

  it('the worker hub counts it as dropped for that link and reports ERR_SERIALIZE; the link stays', async () => {
    const { port1, port2 } = new MessageChannel()
    const errors: EventwireError[] = []
    const hub = createWorkerHubEventTarget({ onError: (e) => errors.push(e) })
    hub.add(port1)
    const spoke = createWorkerEventTarget(port2)
    opened.push(spoke, hub, { close: async () => port1.close() })
    const atHub: unknown[] = []
    hub.addEventListener('up', (event) => atHub.push(event.detail))
    await spoke.flush()
    messageError(port1)
    spoke.dispatchEvent(new CustomEvent('up', { detail: 'after' }))
    await waitFor(() => atHub.length === 1)
    expect(atHub).toEqual(['after'])
    expect(errors.map((e) => e.code)).toEqual(['ERR_SERIALIZE'])
    expect(hub.stats()).toMatchObject({ dropped: 1, connections: 1 })
  })
})

describe('worker: lifecycle', () => {
  it('peer routing: a side sends the other only the types it listens to', async () => {
    const { main, node } = await startPair()
    const got: unknown[] = []
    node.addEventListener('wanted', (event) => got.push(event.detail))
    await node.flush()
    for (let n = 0; n < 100; n++) main.dispatchEvent(new CustomEvent('unwanted', { detail: n }))
    main.dispatchEvent(new CustomEvent('wanted', { detail: 'yes' }))
    await waitFor(() => got.length === 1)
    expect(got).toEqual(['yes'])
    expect((await node.remoteStats()).received).toBe(1)
    expect(main.stats().sent).toBe(1)
  })

  it('carries what structured clone carries: Date, RegExp, Map, Set, bytes, BigInt, Error, cycles', async () => {
    const { main, node } = await startPair()
    const got: unknown[] = []
    node.addEventListener('rich', (event) => got.push(event.detail))
    await node.flush()
    const cyclic: { self?: unknown; name: string } = { name: 'loop' }
    cyclic.self = cyclic
    const detail = {
      date: new Date(86_400_000),
      map: new Map([['k', 1]]),
      set: new Set(['a']),
      bytes: new Uint8Array([1, 2, 3]),
      big: 2n ** 70n,
      pattern: /a+b/gi,
      error: new RangeError('out of range'),
      cyclic,
      undef: undefined,
    }
    main.dispatchEvent(new CustomEvent('rich', { detail }))
    await waitFor(() => got.length === 1)
    const copy = got[0] as typeof detail
    expect(copy).not.toBe(detail)
    expect(copy.date).toBeInstanceOf(Date)
    expect(copy.date.getTime()).toBe(86_400_000)
    expect(copy.map.get('k')).toBe(1)
    expect([...copy.set]).toEqual(['a'])
    expect([...copy.bytes]).toEqual([1, 2, 3])
    expect(copy.big).toBe(2n ** 70n)
    expect(copy.pattern).toBeInstanceOf(RegExp)
    expect([copy.pattern.source, copy.pattern.flags]).toEqual(['a+b', 'gi'])
    expect(copy.error).toBeInstanceOf(RangeError)
    expect(copy.error.message).toBe('out of range')
    expect((copy.cyclic as { self: unknown }).self).toBe(copy.cyclic)
    expect('undef' in copy).toBe(true)
  })

  it('the worker exits: the main side reports disconnected and closes; a later dispatch is refused and reported once', async () => {
    const { main, node, statuses, errors } = await startPair()
    node.exitAfter('bye', 1)
    await node.flush()
    main.dispatchEvent(new CustomEvent('bye'))
    expect(await node.exited).toBe(3)
    await waitFor(() => statuses.includes('closed'))
    expect(statuses).toEqual(['connecting', 'connected', 'disconnected', 'closed'])
    expect(main.stats().connections).toBe(0)
    // The worker's exit is reported once; a dispatch after it, once.
    expect(errors.map((error) => error.code)).toEqual(['ERR_CONNECTION'])
    expect(main.dispatchEvent(new CustomEvent('bye'))).toBe(false)
    expect(main.dispatchEvent(new CustomEvent('bye'))).toBe(false)
    await expect(main.flush()).rejects.toMatchObject({ code: 'ERR_CLOSED' })
    expect(errors.map((error) => error.code)).toEqual(['ERR_CONNECTION', 'ERR_CLOSED'])
  })

  it('a MessagePort whose other end closes: the target reports disconnected, closes and lets go', async () => {
    const { port1, port2 } = new MessageChannel()
    const statuses: EventwireStatus[] = []
    const target = createWorkerEventTarget(port1, { onStatus: (status) => statuses.push(status) })
    const other = createWorkerEventTarget(port2)
    opened.push(target, other)
    await Promise.all([target.ready, other.ready])
    port2.close()
    await waitFor(() => statuses.some((status) => status.type === 'closed'))
    expect(statuses.map((status) => status.type)).toEqual([
      'connecting',
      'connected',
      'disconnected',
      'closed',
    ])
    expect(statuses[2]).toMatchObject({ error: { code: 'ERR_CONNECTION', message: 'link closed (1001)' } })
    expect(getEventListeners(port1 as unknown as EventTarget, 'message')).toHaveLength(0)
  })

  it('close() on one end of a MessagePort says goodbye: the other end closes though the port stays open', async () => {
    const { port1, port2 } = new MessageChannel()
    opened.push({
      close: async () => {
        port1.close()
      },
    })
    const statuses: EventwireStatus[] = []
    const leaving = createWorkerEventTarget(port1)
    const staying = createWorkerEventTarget(port2, { onStatus: (status) => statuses.push(status) })
    opened.push(staying)
    const got: unknown[] = []
    staying.addEventListener('last', (event) => got.push(event.detail))
    await Promise.all([leaving.flush(), staying.flush()])
    leaving.dispatchEvent(new CustomEvent('last', { detail: 'before close' }))
    await leaving.close()
    await waitFor(() => statuses.some((status) => status.type === 'closed'))
    expect(got).toEqual(['before close'])
    expect(statuses.map((status) => status.type)).toEqual([
      'connecting',
      'connected',
      'disconnected',
      'closed',
    ])
    expect(statuses[2]).toMatchObject({ error: { message: 'link closed (1000)' } })
    expect(staying.stats().connections).toBe(0)
  })

  it('remove() from the worker hub and close() on the main side tell the worker, whose target closes', async () => {
    const pool = await startPool(1)
    const node = pool.nodes[0]!
    expect((await node.remoteStats()).connections).toBe(1)
    await pool.handles[0]!.remove()
    await waitFor(async () => (await node.remoteStats()).connections === 0, {
      message: 'the removed worker closed its target',
    })

    const pair = await startPair()
    expect((await pair.node.remoteStats()).connections).toBe(1)
    await pair.main.close()
    await waitFor(async () => (await pair.node.remoteStats()).connections === 0, {
      message: 'the worker closed its target',
    })
  })

  it('close() and remove() take off every listener they added', async () => {
    const count = (target: object) =>
      ['message', 'messageerror', 'error', 'exit', 'close'].reduce(
        (sum, type) => sum + getEventListeners(target as EventTarget, type).length,
        0,
      )
    const node = await WorkerNode.start({ endpoint: 'parent' })
    opened.push(node)
    const before = count(node.worker)
    const main = createWorkerEventTarget(node.worker)
    expect(count(node.worker)).toBeGreaterThan(before)
    await main.close()
    expect(count(node.worker)).toBe(before)

    const hub = createWorkerHubEventTarget()
    opened.push(hub)
    const handle = hub.add(node.worker)
    expect(count(node.worker)).toBeGreaterThan(before)
    await handle.remove()
    expect(count(node.worker)).toBe(before)
    hub.add(node.worker) // a removed endpoint may come back
    await hub.close()
    expect(count(node.worker)).toBe(before)

    const { port1, port2 } = new MessageChannel()
    opened.push({ close: async () => port1.close() })
    const portTarget = createWorkerEventTarget(port1)
    expect(count(port1)).toBe(5)
    await portTarget.close()
    expect(count(port1)).toBe(0)
    expect(count(port2)).toBe(0)

    const channel = new BroadcastChannel(`cleanup-${Math.random()}`)
    opened.push({ close: async () => channel.close() })
    const channelTarget = createWorkerEventTarget(channel)
    expect(count(channel)).toBe(2)
    await channelTarget.close()
    expect(count(channel)).toBe(0)
  })

  it('refuses misuse synchronously with ERR_INVALID_OPTION', async () => {
    const channel = new BroadcastChannel(`misuse-${Math.random()}`)
    opened.push({ close: async () => channel.close() })
    const { port1 } = new MessageChannel()
    opened.push({ close: async () => port1.close() })
    const invalid = { code: 'ERR_INVALID_OPTION' }
    expect(() => createWorkerEventTarget({} as never)).toThrow(expect.objectContaining(invalid))
    expect(() => createWorkerEventTarget(port1, { serializer: JSON } as never)).toThrow(
      expect.objectContaining(invalid),
    )
    const hub = createWorkerHubEventTarget()
    opened.push(hub)
    expect(() => hub.add(channel)).toThrow(expect.objectContaining(invalid))
    hub.add(port1)
    expect(() => hub.add(port1)).toThrow(expect.objectContaining(invalid))
  })
})

describe('worker hub: whenSubscribed', () => {
  it('waits until the workers listen, so the first event reaches them all; times out and closes cleanly', async () => {
    const hub = createWorkerHubEventTarget()
    const workers = [0, 1, 2].map(() => {
      const { port1, port2 } = new MessageChannel()
      hub.add(port1)
      const target = createWorkerEventTarget(port2)
      opened.push(target)
      return target
    })
    const got: number[] = []
    // The workers start listening later, each on its own schedule.
    workers.forEach((target, i) => {
      setTimeout(() => target.addEventListener('config', () => got.push(i)), 10 * (i + 1))
    })
    await hub.whenSubscribed('config', { count: 3, timeoutMs: 5_000 })
    hub.dispatchEvent(new CustomEvent('config', { detail: { level: 3 } }))
    await waitFor(() => got.length === 3, { timeoutMs: 2_000 })
    expect(got.sort()).toEqual([0, 1, 2])
    await expect(hub.whenSubscribed('config', { count: 3 })).resolves.toBeUndefined()
    await expect(hub.whenSubscribed('nobody', { timeoutMs: 30 })).rejects.toMatchObject({
      code: 'ERR_TIMEOUT',
      message: '0 of 1 spokes subscribed to "nobody" within 30 ms',
    })
    const pending = hub.whenSubscribed('nobody', { timeoutMs: 5_000 })
    await hub.close()
    await expect(pending).rejects.toMatchObject({ code: 'ERR_CLOSED' })
  })
})
