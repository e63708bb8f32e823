import type { TypedEvent, TypedEventTarget } from '../core/types.js'

/** Any target a bridge or scale-out joins. */
export type AnyTarget = TypedEventTarget<TypedEvent>

/** A hub-like target that reports its topology's interest and lets a bridge see all its traffic. */
export interface Observable {
  tap(listener: (event: Event) => void): () => void
  watchInterest(listener: (type: string, isInterested: boolean) => void): () => void
}

export function isObservable(target: object): target is Observable {
  return (
    typeof (target as Partial<Observable>).tap === 'function' &&
    typeof (target as Partial<Observable>).watchInterest === 'function'
  )
}

export function isTarget(value: unknown): value is AnyTarget {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as AnyTarget).addEventListener === 'function' &&
    typeof (value as AnyTarget).removeEventListener === 'function' &&
    typeof (value as AnyTarget).dispatchEvent === 'function'
  )
}
