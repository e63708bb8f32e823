import type { AddressInfo } from 'node:net'
import { type ServerType, serve, upgradeWebSocket } from '@hono/node-server'
import { Hono } from 'hono'
import { describe, it } from 'vitest'
import { WebSocketServer } from 'ws'
import { createWebSocketServerEventTarget } from '../../src/event-target-websocket-server/index.js'
import { conformanceCases, describeConformance, type TopologyContext } from '../../src/testing/index.js'
import { CHECKED_SCHEMAS, SCHEMA_LIBRARIES, type SchemaLibrary } from '../support/schemas.js'
import { interruptibleClient, startHub } from '../support/websocket.js'

// A WebSocket hub on a plain Node http.Server (the ws package) and three Node clients, over real sockets
// on 127.0.0.1. The hub is node 0.
// An interruption drops a client's socket without a close handshake; the client reconnects.
describeConformance(
  'websocket hub with three clients',
  async ({ nodeCount, onError }) => {
    const running = await startHub({ onError })
    const spokes = Array.from({ length: Math.max(3, nodeCount - 1) }, () =>
      interruptibleClient(running.url, { onError }),
    )
    await Promise.all(spokes.map((spoke) => spoke.target.ready))
    return {
      nodes: [running.hub, ...spokes.map((spoke) => spoke.target)],
      interrupt: (index) => spokes[index - 1]!.interrupt(),
      close: async () => {
        await Promise.all(spokes.map((spoke) => spoke.target.close()))
        await running.close()
      },
    }
  },
  { interruptible: [1, 2] },
)

// The same hub behind a Hono route on Node (@hono/node-server's upgradeWebSocket and a ws server).
describeConformance(
  'websocket hub on Hono with three clients',
  async ({ nodeCount, onError }) => {
    const hub = createWebSocketServerEventTarget({ onError })
    const app = new Hono()
    app.get('/ws', hub.upgrade(upgradeWebSocket))
    const wss = new WebSocketServer({ noServer: true })
    const server = await new Promise<ServerType>((resolve) => {
      const started = serve(
        { fetch: app.fetch, port: 0, hostname: '127.0.0.1', websocket: { server: wss } },
        () => resolve(started),
      )
    })
    const { port } = server.address() as AddressInfo
    const spokes = Array.from({ length: Math.max(3, nodeCount - 1) }, () =>
      interruptibleClient(`ws://127.0.0.1:${port}/ws`, { onError }),
    )
    await Promise.all(spokes.map((spoke) => spoke.target.ready))
    return {
      nodes: [hub, ...spokes.map((spoke) => spoke.target)],
      interrupt: (index) => spokes[index - 1]!.interrupt(),
      close: async () => {
        await Promise.all(spokes.map((spoke) => spoke.target.close()))
        await hub.close()
        wss.close()
        await new Promise((resolve) => server.close(resolve))
      },
    }
  },
  { interruptible: [1, 2] },
)

// With schemas (`defineEvents`): the hub checks what clients send; client 1 does not check what it
// dispatches, as a hostile or outdated client. The whole suite with valibot's schema, and the schema
// tests with every library.
async function schemaTopology({ nodeCount, onErrorOf, onStatusOf, schemas, history }: TopologyContext) {
  const events = schemas?.events
  const running = await startHub({ onError: onErrorOf(0), events, history })
  const spokes = Array.from({ length: Math.max(3, nodeCount - 1) }, (_, index) =>
    interruptibleClient(running.url, {
      onError: onErrorOf(index + 1),
      onStatus: onStatusOf(index + 1),
      events,
      validate: { dispatched: schemas?.sender !== index + 1 },
    }),
  )
  await Promise.all(spokes.map((spoke) => spoke.target.ready))
  return {
    nodes: [running.hub, ...spokes.map((spoke) => spoke.target)],
    interrupt: (index: number) => spokes[index - 1]!.interrupt(),
    close: async () => {
      await Promise.all(spokes.map((spoke) => spoke.target.close()))
      await running.close()
    },
  }
}
// With a history on the hub (docs/recovery.md): the suite, plus a client cut under a stream.
describeConformance('websocket hub with history and three clients', schemaTopology, {
  interruptible: [1, 2],
  history: true,
})
const schemaCapabilities = (library: SchemaLibrary) =>
  ({ schema: CHECKED_SCHEMAS[library], dispatcher: 2, sender: 1, senderLearns: true }) as const
describeConformance('websocket hub with three clients, schemas (valibot)', schemaTopology, {
  interruptible: [1, 2],
  schemas: schemaCapabilities('valibot'),
})
describe('conformance: websocket hub with three clients, schema tests per library', () => {
  for (const library of SCHEMA_LIBRARIES) {
    for (const test of conformanceCases(schemaTopology, { schemas: schemaCapabilities(library) })) {
      if (test.name.startsWith('schemas:')) it(`${library}: ${test.name}`, () => test.run())
    }
  }
})
