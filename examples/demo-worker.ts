// A worker thread of the demo: publishes sensor readings into the pool and counts the hub's ticks.
import { parentPort, workerData } from 'node:worker_threads'
import { createWorkerEventTarget } from '../src/event-target-worker/index.js'
import { createEvent } from '../src/index.js'
import type { DemoEvent } from './demo-events.js'

const name = (workerData as { name: string }).name
const target = createWorkerEventTarget<DemoEvent>(parentPort!)
let ticks = 0
let tickLatencyMs = 0
target.addEventListener('tick', (event) => {
  ticks++
  tickLatencyMs += Math.max(0, Date.now() - event.detail.sentAt)
})
let value = 20
setInterval(() => {
  value += Math.random() - 0.5
  target.dispatchEvent(
    createEvent('reading', {
      source: name,
      value: Math.round(value * 10) / 10,
      ticks,
      tickLatencyMs,
      sentAt: Date.now(),
    }),
  )
}, 400)
