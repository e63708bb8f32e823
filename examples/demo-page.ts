// The demo's web page: a WebSocket spoke that shows what flows through the topology, live.

import { createWebSocketClientEventTarget } from '../src/event-target-websocket-client/index.js'
import { createEvent } from '../src/index.js'
import type { DemoEvent } from './demo-events.js'

const url = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ws`
const spoke = createWebSocketClientEventTarget<DemoEvent>({
  url,
  onStatus: (status) => {
    document.querySelector('#status')!.textContent = status.type
  },
})
const counts = new Map<string, { count: number; latencyMs: number }>()
const state = globalThis as { eventwireCounts?: Record<string, number> }
state.eventwireCounts = {}

function record(source: string, sentAt: number, line: string): void {
  const entry = counts.get(source) ?? { count: 0, latencyMs: 0 }
  entry.count++
  entry.latencyMs = Math.max(0, Date.now() - sentAt)
  counts.set(source, entry)
  state.eventwireCounts![source] = entry.count
  const rows = [...counts].sort(([a], [b]) => a.localeCompare(b))
  document.querySelector('tbody')!.innerHTML = rows
    .map(
      ([name, { count, latencyMs }]) => `<tr><td>${name}</td><td>${count}</td><td>${latencyMs} ms</td></tr>`,
    )
    .join('')
  const log = document.querySelector('#log')!
  log.insertAdjacentHTML('afterbegin', `<li>${new Date().toLocaleTimeString()} ${line}</li>`)
  while (log.children.length > 12) log.lastElementChild!.remove()
}

spoke.addEventListener('tick', (event) =>
  record(event.detail.source, event.detail.sentAt, `tick from ${event.detail.source}`),
)
spoke.addEventListener('reading', (event) =>
  record(event.detail.source, event.detail.sentAt, `${event.detail.source} reads ${event.detail.value}`),
)
spoke.addEventListener('chat', (event) =>
  record(event.detail.source, event.detail.sentAt, `${event.detail.source}: ${event.detail.text}`),
)
setInterval(
  () => spoke.dispatchEvent(createEvent('browser', { source: 'browser', sentAt: Date.now() })),
  1_000,
)
