// A hub and a spoke over iroh (QUIC), both on loopback with no relay and no discovery.
// iroh probes for a UPnP gateway on every bind, so run it in the loopback-only namespace:
//   node scripts/isolated.mjs npx tsx examples/iroh.ts
import { Endpoint, EndpointAddr, presetMinimal, RelayMode } from '@number0/iroh'
import { createIrohHubEventTarget, IROH_ALPN } from '../src/event-target-iroh-hub/index.js'
import { createIrohSpokeEventTarget } from '../src/event-target-iroh-spoke/index.js'
import { createEvent } from '../src/index.js'

async function endpoint(alpns: string[]): Promise<Endpoint> {
  const builder = Endpoint.builder()
  presetMinimal(builder)
  builder.relayMode(RelayMode.disabled())
  builder.bindAddr('127.0.0.1:0')
  builder.alpns(alpns.map((alpn) => [...new TextEncoder().encode(alpn)]))
  return builder.bind()
}

const hubEndpoint = await endpoint([IROH_ALPN])
const hub = createIrohHubEventTarget({
  endpoint: hubEndpoint,
  onConnection: (connection) =>
    console.log('hub: spoke', String(connection.principal).slice(0, 12), 'connected'),
})
const direct = hubEndpoint.boundSockets().filter((socket) => socket.startsWith('127.0.0.1:'))
const spokeEndpoint = await endpoint([])
const spoke = createIrohSpokeEventTarget({
  endpoint: spokeEndpoint,
  hub: new EndpointAddr(hubEndpoint.id(), null, direct),
})

hub.addEventListener('hello', (event) => console.log('hub got', event.detail))
spoke.addEventListener('welcome', (event) => console.log('spoke got', event.detail))
await spoke.ready
await spoke.flush()
spoke.dispatchEvent(createEvent('hello', 'from the spoke, over QUIC'))
hub.dispatchEvent(createEvent('welcome', 'from the hub'))
await spoke.flush()
await spoke.close()
await hub.close()
await Promise.all([spokeEndpoint.close(), hubEndpoint.close()])
