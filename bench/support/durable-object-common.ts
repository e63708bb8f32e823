/**
 * What bench/durable-object.ts, its Worker (run in workerd) and its spokes' child process share. Not a
 * benchmark itself (bench/index.ts runs only the files directly in bench/).
 */
export { type Detail, DOWN, detailOf } from './realistic-common.js'

/** Which object fans out: eventwire's hub, or the hand-written loop over `getWebSockets()`. */
export type Kind = 'ours' | 'raw'

/** Parent to child. */
export type ToChild =
  /** Open `count` spokes of `kind` on `url`; the child answers `connected`. */
  | { type: 'connect'; kind: Kind; url: string; count: number }
  /** Count from zero again: the child answers `done` once each spoke of `kind` has `events` events. */
  | { type: 'expect'; kind: Kind; events: number }
  | { type: 'close' }

/** Child to parent. */
export type FromChild = { type: 'connected' } | { type: 'done' } | { type: 'failed'; message: string }
