/**
 * What travels with an event that crossed a bridge: how many bridges it crossed, and its identity, given
 * by the first bridge it crossed. Both go on the wire (the fifth and seventh elements of an event frame)
 * and, inside a process, beside the event object. The hop count cuts a cycle of bridges at a limit; the
 * identity lets every node deliver an event that reached it by two paths once (`isFirstSight`).
 */
interface Trace {
  hops: number
  id: string | undefined
}

/**
 * What every copy of eventwire in a process shares. A process that loads both the ES module and the
 * CommonJS build holds two copies of this module; a bridge of one copy must read the hop count and the
 * identity the other recorded, or a cycle with bridges of both never ends. Kept on `globalThis` under a
 * registered symbol; later versions may add fields, never change these.
 */
interface SharedTraces {
  traceByEvent: WeakMap<Event, Trace>
  seenByNode: WeakMap<object, Set<string>>
}

const SHARED = Symbol.for('eventwire.traces.v1')
const holder = globalThis as { [SHARED]?: SharedTraces }
holder[SHARED] ??= { traceByEvent: new WeakMap(), seenByNode: new WeakMap() }
const { traceByEvent, seenByNode } = holder[SHARED]

export function eventHops(event: Event): number {
  return traceByEvent.get(event)?.hops ?? 0
}

/** The identity a bridge gave this event, if it crossed one. */
export function eventId(event: Event): string | undefined {
  return traceByEvent.get(event)?.id
}

/** Records the hop count (and identity) of an event (a no-op for 0 without an id) and returns the event. */
export function withHops<TEvent extends Event>(event: TEvent, hops: number, id?: string): TEvent {
  if (hops > 0 || id !== undefined) traceByEvent.set(event, { hops, id })
  return event
}

/** Bridged-event identities each node remembers: enough for any cycle to close within them. */
const SEEN_PER_NODE = 10_000

/**
 * True the first time `node` meets the bridged event `id` (and remembers it), false after: an event that
 * reached a node by two paths of bridges, or came back around a cycle, is delivered there once. Events
 * without an id (never bridged) always pass.
 */
export function isFirstSight(node: object, id: string | undefined): boolean {
  if (id === undefined) return true
  let seen = seenByNode.get(node)
  if (seen === undefined) {
    seen = new Set()
    seenByNode.set(node, seen)
  }
  if (seen.has(id)) return false
  seen.add(id)
  if (seen.size > SEEN_PER_NODE) seen.delete(seen.values().next().value as string)
  return true
}
