// The demo's web page: a WebSocket spoke that draws the topology (SVG) and what flows through it, live.

import { createWebSocketClientEventTarget } from '../src/event-target-websocket-client/index.js'
import { createEvent } from '../src/index.js'
import type { DemoEdge, DemoEvent, DemoNode, DemoTopology, EdgeSample } from './demo-events.js'
import { EdgeMeter } from './demo-events.js'

const hubId = document.body.dataset.hub ?? 'hub-1'
const source = hubId === 'hub-1' ? 'browser' : `browser@${hubId}`
const url = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ws`
const spoke = createWebSocketClientEventTarget<DemoEvent>({
  url,
  onStatus: (status) => {
    document.querySelector('#status')!.textContent = status.type
  },
})

/** What the page shows of one edge, for the tests too. */
interface EdgeView {
  from: string
  to: string
  transport: string
  off: boolean
  ratePerSecond: number
  latencyMs: number | undefined
}

const state = globalThis as {
  eventwireCounts?: Record<string, number>
  eventwireTopology?: { nodes: DemoNode[]; edges: EdgeView[]; off: DemoTopology['off']; updates: number }
}
state.eventwireCounts = {}
// Everything this page receives crossed its own edge from the hub; the hub measures the other way.
const incoming = new EdgeMeter()

// --- drawing ---

const NODE = { width: 116, height: 46 }
const LABEL = { width: 112, height: 34 }
const VIEW = { width: 900, height: 400 }
const COLUMNS = [62, 318, 582, 838]
const ROWS = [30, 140, 250, 360]

/** Where each node goes: workers left, the hub in the middle, the other spokes right, Redis below. */
function place(id: string, edges: EdgeView[]): [number, number] | undefined {
  const on = (from: string, to: string) =>
    edges.some((edge) => edge.from === from && edge.to === to && !edge.off)
  const positions: Record<string, [number, number]> = {
    'worker-1': [COLUMNS[0]!, ROWS[0]!],
    'worker-2': [COLUMNS[0]!, ROWS[1]!],
    workers: [COLUMNS[1]!, (ROWS[0]! + ROWS[1]!) / 2],
    'iroh-spoke': [COLUMNS[0]!, ROWS[2]!],
    'iroh-hub': [COLUMNS[1]!, ROWS[2]!],
    'hub-1': [COLUMNS[2]!, ROWS[1]!],
    redis: [COLUMNS[2]!, ROWS[2]!],
    'hub-2': [COLUMNS[2]!, ROWS[3]!],
    page: hubId === 'hub-1' ? [COLUMNS[3]!, ROWS[0]!] : [COLUMNS[3]!, ROWS[2]!],
    'node-spoke': on('node-spoke', 'hub-2') ? [COLUMNS[3]!, ROWS[3]!] : [COLUMNS[3]!, ROWS[1]!],
  }
  return positions[id]
}

const escapeHtml = (text: string) =>
  text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;')
/** Escapes, and shows `quoted` parts as code. */
const prose = (text: string) => escapeHtml(text).replace(/`([^`]+)`/g, '<code>$1</code>')

const COLORS = {
  hub: { fill: '#dbeafe', stroke: '#2563eb' },
  spoke: { fill: '#dcfce7', stroke: '#16a34a' },
  broker: { fill: '#fee2e2', stroke: '#dc2626' },
  page: { fill: '#fef3c7', stroke: '#d97706' },
  off: { fill: '#f4f4f5', stroke: '#a1a1aa' },
}

function drawNode(node: DemoNode, [x, y]: [number, number]): string {
  const color = node.off !== undefined ? COLORS.off : node.id === 'page' ? COLORS.page : COLORS[node.kind]
  const dash = node.off !== undefined ? ' stroke-dasharray="5 4"' : ''
  const text = node.off !== undefined ? '#71717a' : '#111827'
  const detail = node.off !== undefined ? 'off' : node.detail
  return `<g data-node="${escapeHtml(node.id)}" data-off="${node.off !== undefined}">
<rect x="${x - NODE.width / 2}" y="${y - NODE.height / 2}" width="${NODE.width}" height="${NODE.height}" rx="8"
 fill="${color.fill}" stroke="${color.stroke}" stroke-width="1.5"${dash}/>
<text x="${x}" y="${y - 3}" text-anchor="middle" font-size="14" font-weight="600" fill="${text}">${escapeHtml(node.label)}</text>
<text x="${x}" y="${y + 14}" text-anchor="middle" font-size="12" fill="${text}">${escapeHtml(detail)}</text></g>`
}

const formatRate = (rate: number) => (rate >= 10 ? rate.toFixed(0) : rate.toFixed(1))
const formatLatency = (latency: number | undefined) =>
  latency === undefined ? '– ms' : `${latency >= 10 ? latency.toFixed(0) : latency.toFixed(1)} ms`

function drawEdge(edge: EdgeView, [x1, y1]: [number, number], [x2, y2]: [number, number]): string {
  const stroke = edge.off ? '#a1a1aa' : edge.ratePerSecond > 0 ? '#4b5563' : '#9ca3af'
  const dash = edge.off ? ' stroke-dasharray="6 5"' : ''
  return `<line x1="${x1}" y1="${y1}" x2="${x2}" y2="${y2}" stroke="${stroke}" stroke-width="2"${dash}/>`
}

function drawEdgeLabel(edge: EdgeView, [x1, y1]: [number, number], [x2, y2]: [number, number]): string {
  const [x, y] = [(x1 + x2) / 2, (y1 + y2) / 2]
  const figures = edge.off
    ? 'off'
    : `${formatRate(edge.ratePerSecond)} ev/s · ${formatLatency(edge.latencyMs)}`
  const text = edge.off ? '#71717a' : '#111827'
  return `<g data-edge="${escapeHtml(edge.from)}>${escapeHtml(edge.to)}">
<rect x="${x - LABEL.width / 2}" y="${y - LABEL.height / 2}" width="${LABEL.width}" height="${LABEL.height}" rx="4"
 fill="#ffffff" fill-opacity="0.95" stroke="#d1d5db"/>
<text x="${x}" y="${y - 3}" text-anchor="middle" font-size="12" font-weight="600" fill="${text}">${escapeHtml(edge.transport)}</text>
<text x="${x}" y="${y + 12}" text-anchor="middle" font-size="12" fill="${text}">${escapeHtml(figures)}</text></g>`
}

const rate = (sample: EdgeSample) => (sample.windowMs > 0 ? (sample.count * 1000) / sample.windowMs : 0)

/** The hub's figures for each edge, with this page's own measure of its edge added in. */
function view(topology: DemoTopology, own: EdgeSample): EdgeView[] {
  return topology.edges
    .filter((edge: DemoEdge) => edge.from !== 'page' || edge.to === hubId)
    .map((edge) => {
      const isMine = edge.from === 'page'
      const timed = edge.timed + (isMine ? own.timed : 0)
      const latencyMs = edge.latencyMs + (isMine ? own.latencyMs : 0)
      return {
        from: edge.from,
        to: edge.to,
        transport: edge.transport,
        off: edge.off,
        ratePerSecond: rate(edge) + (isMine ? rate(own) : 0),
        latencyMs: timed > 0 ? latencyMs / timed : undefined,
      }
    })
}

function render(topology: DemoTopology): void {
  const edges = view(topology, incoming.roll())
  const placed = new Map<string, [number, number]>()
  for (const node of topology.nodes) {
    const position = place(node.id, edges)
    if (position !== undefined) placed.set(node.id, position)
  }
  const drawn = edges.filter((edge) => placed.has(edge.from) && placed.has(edge.to))
  const ends = (edge: EdgeView) => [placed.get(edge.from)!, placed.get(edge.to)!] as const
  const svg = [
    `<svg viewBox="0 0 ${VIEW.width} ${VIEW.height}" role="img" aria-label="the demo topology"`,
    ` font-family="system-ui, sans-serif" xmlns="http://www.w3.org/2000/svg">`,
    ...drawn.map((edge) => drawEdge(edge, ...ends(edge))),
    ...topology.nodes
      .filter((node) => placed.has(node.id))
      .map((node) => drawNode(node, placed.get(node.id)!)),
    ...drawn.map((edge) => drawEdgeLabel(edge, ...ends(edge))),
    '</svg>',
  ]
  document.querySelector('#topology')!.innerHTML = svg.join('\n')
  document.querySelector('#off')!.innerHTML =
    topology.off.length === 0
      ? '<li>Every part is on.</li>'
      : topology.off
          .map(({ part, reason }) => `<li><b>${escapeHtml(part)}</b>: off — ${prose(reason)}</li>`)
          .join('')
  const updates = (state.eventwireTopology?.updates ?? 0) + 1
  state.eventwireTopology = { nodes: topology.nodes, edges, off: topology.off, updates }
}

// --- events ---

function record(from: string, sentAt: number, line: string): void {
  incoming.arrived(sentAt)
  state.eventwireCounts![from] = (state.eventwireCounts![from] ?? 0) + 1
  const log = document.querySelector('#log')!
  log.insertAdjacentHTML('afterbegin', `<li>${new Date().toLocaleTimeString()} ${escapeHtml(line)}</li>`)
  while (log.children.length > 6) log.lastElementChild!.remove()
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
spoke.addEventListener('topology', (event) => {
  incoming.arrived(event.detail.sentAt)
  render(event.detail)
})
setInterval(() => spoke.dispatchEvent(createEvent('browser', { source, sentAt: Date.now() })), 1_000)
