import type { Endpoint } from '@number0/iroh'
import { createIrohHubEventTarget } from '../../src/event-target-iroh-hub/index.js'
import { createIrohSpokeEventTarget } from '../../src/event-target-iroh-spoke/index.js'
import { describeConformance } from '../../src/testing/index.js'
import { bindHubEndpoint, bindLoopbackEndpoint, loopbackAddr } from '../support/iroh.js'

// Real iroh endpoints on 127.0.0.1 (minimal preset, no relay, no discovery): the hub is node 0, then
// the spokes, each with its own endpoint and so its own endpoint id.
describeConformance('iroh hub with three spokes on loopback', async ({ nodeCount, onError }) => {
  const hubEndpoint = await bindHubEndpoint()
  const spokeEndpoints: Endpoint[] = await Promise.all(
    Array.from({ length: Math.max(3, nodeCount - 1) }, () => bindLoopbackEndpoint()),
  )
  const hub = createIrohHubEventTarget({ endpoint: hubEndpoint, onError })
  const spokes = spokeEndpoints.map((endpoint) =>
    createIrohSpokeEventTarget({ endpoint, hub: loopbackAddr(hubEndpoint), onError }),
  )
  await Promise.all(spokes.map((spoke) => spoke.ready))
  return {
    nodes: [hub, ...spokes],
    close: async () => {
      await Promise.all(spokes.map((spoke) => spoke.close()))
      await hub.close()
      await Promise.all([hubEndpoint, ...spokeEndpoints].map((endpoint) => endpoint.close()))
    },
  }
})
