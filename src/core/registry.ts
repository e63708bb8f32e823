import { EventwireError } from './errors.js'
import type { ListenerOptions } from './types.js'

type Callback = ((event: Event) => void) | { handleEvent(event: Event): void }

interface Entry {
  readonly type: string
  readonly callback: Callback
  readonly capture: boolean
  readonly once: boolean
  /** Set when the entry leaves the list, so a dispatch already iterating a snapshot skips it (DOM rule). */
  removed: boolean
  signal: AbortSignal | undefined
}

/** One abort listener per signal, however many listeners share it (Node warns past ten per signal). */
interface SignalWatch {
  readonly entries: Set<Entry>
  readonly onAbort: () => void
}

interface TypeEntries {
  entries: Entry[]
  /** Dispatches currently iterating `entries`; while > 0, mutations copy the array first. */
  dispatching: number
}

export interface ListenerRegistryOptions {
  /** `this` for plain function listeners (the DOM passes the current target). */
  owner: object
  /** Called when a type gains its first listener (`true`) or loses its last (`false`). */
  onInterest?: (type: string, isInterested: boolean) => void
  /** Called with `ERR_LISTENER_THREW` when a listener throws; the remaining listeners still run. */
  onListenerError: (error: EventwireError) => void
}

/**
 * The listener registry every target shares: `Map<type, Entry[]>` with DOM semantics (`once`, `signal`,
 * `handleEvent` objects called with their `this`, duplicate adds ignored, removal during dispatch safe).
 * Node's own `EventTarget` is several times slower on this path and warns past ten listeners.
 */
export class ListenerRegistry {
  readonly #types = new Map<string, TypeEntries>()
  readonly #signals = new Map<AbortSignal, SignalWatch>()
  readonly #owner: object
  readonly #onInterest: ((type: string, isInterested: boolean) => void) | undefined
  readonly #onListenerError: (error: EventwireError) => void

  constructor(options: ListenerRegistryOptions) {
    this.#owner = options.owner
    this.#onInterest = options.onInterest
    this.#onListenerError = options.onListenerError
  }

  add(type: string, callback: unknown, options?: ListenerOptions | boolean): void {
    if (!isCallback(callback, 'addEventListener')) return
    const capture = typeof options === 'boolean' ? options : options?.capture === true
    const once = typeof options === 'object' && options !== null && options.once === true
    const signal = typeof options === 'object' && options !== null ? options.signal : undefined
    if (signal?.aborted) return

    let list = this.#types.get(type)
    if (list === undefined) {
      list = { entries: [], dispatching: 0 }
      this.#types.set(type, list)
    } else if (findEntry(list.entries, callback, capture) !== -1) {
      return
    }
    const entry: Entry = { type, callback, capture, once, removed: false, signal }
    if (signal !== undefined) this.#watch(signal, entry)
    if (list.dispatching > 0) list.entries = list.entries.slice()
    list.entries.push(entry)
    if (list.entries.length === 1) this.#onInterest?.(type, true)
  }

  remove(type: string, callback: unknown, options?: { capture?: boolean } | boolean): void {
    if (!isCallback(callback, 'removeEventListener')) return
    const capture = typeof options === 'boolean' ? options : options?.capture === true
    const list = this.#types.get(type)
    if (list === undefined) return
    const index = findEntry(list.entries, callback, capture)
    if (index !== -1) this.#removeEntry(list.entries[index]!)
  }

  /** Calls every listener of `event.type` in insertion order; returns how many were called. */
  deliver(event: Event): number {
    const list = this.#types.get(event.type)
    if (list === undefined) return 0
    const entries = list.entries
    let calls = 0
    list.dispatching++
    try {
      for (let i = 0; i < entries.length; i++) {
        const entry = entries[i]!
        if (entry.removed) continue
        if (entry.once) this.#removeEntry(entry)
        calls++
        try {
          const callback = entry.callback
          if (typeof callback === 'function') callback.call(this.#owner, event)
          else if (typeof callback.handleEvent === 'function') callback.handleEvent(event)
          else throw new TypeError('listener object has no handleEvent method')
        } catch (error) {
          this.#onListenerError(
            new EventwireError('ERR_LISTENER_THREW', `a listener for "${event.type}" threw`, {
              cause: error,
              eventType: event.type,
            }),
          )
        }
      }
    } finally {
      list.dispatching--
    }
    return calls
  }

  has(type: string): boolean {
    return this.#types.has(type)
  }

  /** Number of listeners currently registered for `type`. */
  count(type: string): number {
    return this.#types.get(type)?.entries.length ?? 0
  }

  /** The types that currently have at least one listener. */
  types(): string[] {
    return [...this.#types.keys()]
  }

  /** Removes every listener without reporting interest changes (used by `close()`). */
  clear(): void {
    for (const list of this.#types.values()) {
      for (const entry of list.entries) entry.removed = true
    }
    for (const [signal, watch] of this.#signals) signal.removeEventListener('abort', watch.onAbort)
    this.#signals.clear()
    this.#types.clear()
  }

  #watch(signal: AbortSignal, entry: Entry): void {
    let watch = this.#signals.get(signal)
    if (watch === undefined) {
      const entries = new Set<Entry>()
      const onAbort = () => {
        this.#signals.delete(signal)
        for (const aborted of entries) this.#removeEntry(aborted)
      }
      watch = { entries, onAbort }
      this.#signals.set(signal, watch)
      signal.addEventListener('abort', onAbort, { once: true })
    }
    watch.entries.add(entry)
  }

  #unwatch(signal: AbortSignal, entry: Entry): void {
    const watch = this.#signals.get(signal)
    if (watch === undefined) return
    watch.entries.delete(entry)
    if (watch.entries.size === 0) {
      this.#signals.delete(signal)
      signal.removeEventListener('abort', watch.onAbort)
    }
  }

  #removeEntry(entry: Entry): void {
    if (entry.removed) return
    const list = this.#types.get(entry.type)
    if (list === undefined) return
    const index = list.entries.indexOf(entry)
    if (index === -1) return
    entry.removed = true
    if (entry.signal !== undefined) this.#unwatch(entry.signal, entry)
    if (list.dispatching > 0) list.entries = list.entries.slice()
    list.entries.splice(index, 1)
    if (list.entries.length === 0) {
      this.#types.delete(entry.type)
      this.#onInterest?.(entry.type, false)
    }
  }
}

function findEntry(entries: Entry[], callback: Callback, capture: boolean): number {
  for (let i = 0; i < entries.length; i++) {
    const entry = entries[i]!
    if (entry.callback === callback && entry.capture === capture) return i
  }
  return -1
}

/** `null`/`undefined` listeners are ignored as in the DOM; anything else that is not an object throws. */
function isCallback(callback: unknown, method: string): callback is Callback {
  if (callback === null || callback === undefined) return false
  if (typeof callback === 'function' || typeof callback === 'object') return true
  throw new TypeError(`${method}: parameter 2 is not of type 'Object'`)
}

/** The DOM throws a `TypeError` when `dispatchEvent` gets something that is not an `Event`. */
export function assertEvent(event: unknown): asserts event is Event {
  if (!(event instanceof Event)) {
    throw new TypeError("dispatchEvent: parameter 1 is not of type 'Event'")
  }
}
