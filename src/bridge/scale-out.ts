import { EventwireError, invalidOption } from '../core/errors.js'
import { readFunction } from '../core/options.js'
import { createErrorSink, createStats } from '../core/report.js'
import type { TypedEvent } from '../core/types.js'
import { type AnyTarget, isObservable, isTarget, type Observable } from './targets.js'

export interface ScaleOutOptions {
  /** Receives what could not cross: a detail the shared target cannot carry. */
  onError?: (error: EventwireError) => void
}

export interface ScaleOutStats {
  /** Events of this hub's spokes and listeners sent to the shared target. */
  published: number
  /** Events of other hubs, from the shared target, delivered into this hub. */
  delivered: number
  /** Events the shared target refused (a detail it cannot carry). */
  dropped: number
  /** Types this hub listens to on the shared target: those its spokes and listeners want. */
  listening: number
}

export interface ScaleOut {
  /** Removes every listener, tap and watch it added. Idempotent. */
  close(): void
  stats(): ScaleOutStats
}

/** The hub side: it reports its topology's interest and lets scale-out see all its traffic. */
type ScalableHub = AnyTarget & Observable

function isHub(value: unknown): value is ScalableHub {
  return isTarget(value) && isObservable(value)
}

/**
 * Makes `hub` one of several hubs that act as one, joined through `shared`: a target every hub reaches
 * and that delivers what one node dispatches to every other node, once (a Redis target, each hub with
 * its own). What the hub's spokes publish (and what is dispatched on the hub) goes to `shared` once;
 * what other hubs publish comes back, for the types this hub's spokes and listeners want and only those.
 *
 * Unlike `bridge`, scale-out is a star: an event that came from `shared` is never sent back to it, so
 * events need no identity and no hop count, and a relayed event reaches this hub's spokes exactly as
 * one of its own would (in runs, with nothing added per event). So join each hub to `shared` once, and
 * do not also bridge the hubs to each other.
 */
export function scaleOut(hub: AnyTarget, shared: AnyTarget, options: ScaleOutOptions = {}): ScaleOut {
  if (!isHub(hub)) invalidOption('hub', 'a hub (a target with tap and watchInterest)', hub)
  if (!isTarget(shared)) invalidOption('shared', 'an event target', shared)
  if ((hub as object) === shared) invalidOption('shared', 'another target than the hub', 'the same target')
  if (typeof options !== 'object' || options === null)
    invalidOption('scale-out options', 'an object', options)
  const counters = createStats()
  const reportError = createErrorSink(readFunction('onError', options.onError), counters)
  const stats: ScaleOutStats = { published: 0, delivered: 0, dropped: 0, listening: 0 }
  const listening = new Set<string>()
  let isClosed = false
  // Dispatch is synchronous on both sides, so a flag says where an event being seen comes from: the
  // shared target delivers what we publish to its own listeners (ours among them), and the hub's tap
  // sees what we deliver into it. Neither may cross back.
  let isPublishing = false
  let isDelivering = false

  const deliver = (event: Event) => {
    if (isPublishing || isClosed) return
    isDelivering = true
    try {
      hub.dispatchEvent(event as TypedEvent)
      stats.delivered++
    } finally {
      isDelivering = false
    }
  }

  const publish = (event: Event) => {
    if (isDelivering || isClosed) return
    isPublishing = true
    try {
      shared.dispatchEvent(event as TypedEvent)
      stats.published++
    } catch (cause) {
      stats.dropped++
      reportError(
        cause instanceof EventwireError
          ? cause
          : new EventwireError('ERR_SERIALIZE', `"${event.type}" could not reach the other hubs`, { cause }),
      )
    } finally {
      isPublishing = false
    }
  }

  const stopTap = hub.tap(publish)
  const stopWatch = hub.watchInterest((type, isInterested) => {
    if (isInterested) {
      if (listening.has(type)) return
      listening.add(type)
      shared.addEventListener(type, deliver)
    } else if (listening.delete(type)) {
      shared.removeEventListener(type, deliver)
    }
    stats.listening = listening.size
  })

  return {
    close: () => {
      if (isClosed) return
      isClosed = true
      stopTap()
      stopWatch()
      for (const type of listening) shared.removeEventListener(type, deliver)
      listening.clear()
      stats.listening = 0
    },
    stats: () => ({ ...stats }),
  }
}
