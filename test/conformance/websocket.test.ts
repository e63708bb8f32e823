import { describeConformance } from '../../src/testing/index.js'
import { client, startHub } from '../support/websocket.js'

// A WebSocket hub on a plain Node http.Server (the ws package) and three Node clients, over real sockets
// on 127.0.0.1. The hub is node 0.
describeConformance('websocket hub with three clients', async ({ nodeCount, onError }) => {
  const running = await startHub({ onError })
  const spokes = Array.from({ length: Math.max(3, nodeCount - 1) }, () => client(running.url, { onError }))
  await Promise.all(spokes.map((spoke) => spoke.ready))
  return {
    nodes: [running.hub, ...spokes],
    close: async () => {
      await Promise.all(spokes.map((spoke) => spoke.close()))
      await running.close()
    },
  }
})
