import type { TypedEvent } from '../src/index.js'

/** Every event of the demo topology: who sent it and when, so each node can show latency. */
export type DemoEvent =
  | TypedEvent<'tick', { source: string; sentAt: number }>
  | TypedEvent<'reading', { source: string; value: number; ticks: number; sentAt: number }>
  | TypedEvent<'chat', { source: string; text: string; sentAt: number }>
  | TypedEvent<'browser', { source: string; sentAt: number }>
