/**
 * What bench/scale-out.ts and its child processes share: the commands on their IPC channels. Not a
 * benchmark itself (bench/index.ts runs only the files directly in bench/).
 */

/** How a hub process joins the others: alone (the one-hub baseline), or through Redis. */
export type HubMode = 'alone' | 'bridge' | 'scale-out'

/** Every child answers `usage` with its CPU time so far, µs (user and system). */
export type ToChild =
  | { type: 'usage' }
  /** Spokes only: the publisher sends `down` events with the flow control for at least `ms`. */
  | { type: 'pump'; ms: number }
  | { type: 'close' }

export type FromChild =
  | { type: 'ready'; url?: string }
  | { type: 'usage'; cpu: number }
  | { type: 'pumped'; events: number; ms: number }
  | { type: 'error'; message: string }

/** The event the publisher sends and every receiving spoke listens to. */
export const DOWN = 'down'

/** CPU time of this process so far, µs. */
export function cpuMicros(): number {
  const { user, system } = process.cpuUsage()
  return user + system
}
