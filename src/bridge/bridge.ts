import { DEFAULTS } from '../core/defaults.js'
import { EventwireError, invalidOption } from '../core/errors.js'
import { eventHops, eventId, isFirstSight, withHops } from '../core/hops.js'
import { createNodeId } from '../core/link.js'
import { readFunction, readPositiveInteger } from '../core/options.js'
import { createErrorSink, createStats } from '../core/report.js'
import { type AnyTarget, isObservable, isTarget } from './targets.js'

/** Which way an event crosses the bridge. */
export type BridgeDirection = 'a-to-b' | 'b-to-a'

export interface BridgeOptions {
  /**
   * Types forwarded in both directions in addition to those found by interest. Needed when a side can
   * neither report its interest nor be tapped (an in-process target, a Redis peer, a spoke), since a
   * bridge never subscribes to everything.
   */
  types?: readonly string[]
  /**
   * Forward every event a hub side sees, whatever the other side wants. Interest crosses one bridge: a
   * hub that only relays between two bridges (no spoke or listener of its own wants the type) does not
   * pass its neighbours' interest on, so in a graph where a listener can be two bridges or more away from
   * a dispatcher, turn this on (or list the `types`). Cycles are safe either way: every node takes an
   * event once.
   * @default false
   */
  forwardAll?: boolean
  /** Return false to keep an event on its own side. */
  filter?: (event: Event, direction: BridgeDirection) => boolean
  /**
   * An event that has already crossed this many bridges is dropped and reported (`ERR_HOP_LIMIT`). Cycles
   * are handled before that: every bridged event has an identity, and each node takes it once. The limit
   * is the last resort, for bridges that cannot see each other's identities (a bridge on a spoke of a hub
   * that another process bridges too).
   * @default 8
   */
  hopLimit?: number
  /** Receives forwarding errors: a detail the other side cannot carry, a hop limit reached. */
  onError?: (error: EventwireError) => void
}

export interface BridgeStats {
  /** Events forwarded a → b. */
  forwardedAToB: number
  /** Events forwarded b → a. */
  forwardedBToA: number
  /** Events dropped at the hop limit or because the other side refused them. */
  dropped: number
  /** Events not forwarded because the other side already had them (they reached it by another path). */
  deduplicated: number
  /** Types currently listened to, on either side. */
  listening: number
}

export interface Bridge {
  /** Removes every listener, tap and watch the bridge added. Idempotent. */
  close(): void
  stats(): BridgeStats
}

/**
 * Forwards events both ways between two targets, so that two topologies behave as one. Interest
 * propagates: a hub side reports which types its spokes and listeners want, and the bridge listens for
 * exactly those on the other side (and stops when the last listener leaves). A hub side is tapped, so
 * everything its spokes publish reaches the other side without a listener per type. An event never comes
 * back across the bridge that delivered it, and one that went around a cycle of bridges stops at
 * `hopLimit`.
 */
export function bridge(a: AnyTarget, b: AnyTarget, options: BridgeOptions = {}): Bridge {
  if (!isTarget(a)) invalidOption('a', 'an event target', a)
  if (!isTarget(b)) invalidOption('b', 'an event target', b)
  if (a === b) invalidOption('b', 'a different target than a', 'the same target')
  if (typeof options !== 'object' || options === null) invalidOption('bridge options', 'an object', options)
  const types = options.types ?? []
  if (!Array.isArray(types) || !types.every((type) => typeof type === 'string' && type.length > 0)) {
    invalidOption('types', 'an array of event types', options.types)
  }
  const filter = readFunction<NonNullable<BridgeOptions['filter']>>('filter', options.filter)
  const hopLimit = readPositiveInteger('hopLimit', options.hopLimit, DEFAULTS.hopLimit)
  const counters = createStats()
  const reportError = createErrorSink(readFunction('onError', options.onError), counters)
  const stats: BridgeStats = {
    forwardedAToB: 0,
    forwardedBToA: 0,
    dropped: 0,
    deduplicated: 0,
    listening: 0,
  }
  // Events this bridge dispatched: its own taps and listeners see them and must not send them back.
  const dispatched = new WeakSet<Event>()
  const stops: Array<() => void> = []
  let isClosed = false

  const forward = (event: Event, from: AnyTarget, to: AnyTarget, direction: BridgeDirection) => {
    if (isClosed || dispatched.has(event)) return
    if (filter !== undefined && !filter(event, direction)) return
    // The first bridge an event crosses names it, on the node where it was born, which then never takes
    // it back; every node delivers a name once, however many paths of bridges bring it.
    let id = eventId(event)
    if (id === undefined) {
      id = nextBridgedEventId()
      withHops(event, eventHops(event), id)
      isFirstSight(from, id)
    }
    if (!isFirstSight(to, id)) {
      stats.deduplicated++
      return
    }
    const hops = eventHops(event) + 1
    if (hops > hopLimit) {
      stats.dropped++
      reportError(
        new EventwireError('ERR_HOP_LIMIT', `"${event.type}" crossed ${hops - 1} bridges; dropped`, {
          eventType: event.type,
        }),
      )
      return
    }
    const copy = withHops(new CustomEvent(event.type, { detail: (event as CustomEvent).detail }), hops, id)
    dispatched.add(copy)
    try {
      to.dispatchEvent(copy)
    } catch (cause) {
      stats.dropped++
      reportError(
        cause instanceof EventwireError
          ? cause
          : new EventwireError('ERR_SERIALIZE', `"${event.type}" could not cross the bridge`, { cause }),
      )
      return
    }
    if (direction === 'a-to-b') stats.forwardedAToB++
    else stats.forwardedBToA++
  }

  /** A direction needs the other side's interest, a tap on this side, or an explicit list of types. */
  for (const [from, to, name] of [
    [a, b, 'b'],
    [b, a, 'a'],
  ] as const) {
    if (!isObservable(from) && !isObservable(to) && types.length === 0) {
      invalidOption('types', `a list of event types (the ${name} side cannot report its interest)`, undefined)
    }
  }

  /** Carries events from `from` into `to`, for the types `to` wants. */
  const connect = (from: AnyTarget, to: AnyTarget, direction: BridgeDirection) => {
    const isTapped = isObservable(from)
    const knowsWants = isObservable(to)
    const wanted = new Set<string>(types)
    const listening = new Set<string>()
    const listener = (event: Event) => forward(event, from, to, direction)
    const listen = (type: string) => {
      if (isTapped || listening.has(type)) return
      listening.add(type)
      stats.listening++
      from.addEventListener(type, listener)
    }
    const unlisten = (type: string) => {
      if (!listening.delete(type)) return
      stats.listening--
      from.removeEventListener(type, listener)
    }
    if (knowsWants) {
      stops.push(
        to.watchInterest((type, isInterested) => {
          if (types.includes(type)) return
          if (isInterested) {
            wanted.add(type)
            listen(type)
          } else {
            wanted.delete(type)
            unlisten(type)
          }
        }),
      )
    }
    if (isTapped) {
      // See everything; forward what the other side wants (everything, when it cannot say and no list).
      const forwardsAll = options.forwardAll === true || (!knowsWants && types.length === 0)
      stops.push(
        from.tap((event) => {
          if (forwardsAll || wanted.has(event.type)) forward(event, from, to, direction)
        }),
      )
    } else {
      for (const type of types) listen(type)
    }
    stops.push(() => {
      for (const type of [...listening]) unlisten(type)
    })
  }

  connect(a, b, 'a-to-b')
  connect(b, a, 'b-to-a')

  return {
    close: () => {
      if (isClosed) return
      isClosed = true
      for (const stop of stops.splice(0)) stop()
    },
    stats: () => ({ ...stats }),
  }
}

/** Names for bridged events: unique to this process, and short. */
const BRIDGED_ID_PREFIX = createNodeId()
let bridgedEvents = 0

function nextBridgedEventId(): string {
  bridgedEvents++
  return `${BRIDGED_ID_PREFIX}.${bridgedEvents.toString(36)}`
}
