import type { TypedEvent } from '../../src/index.js'
import type { ConformanceTopology, TopologyContext } from '../../src/testing/index.js'
import { createMemoryConnector, type FrameCodec, Hub, Spoke } from '../../src/transport/index.js'

const fast = { initialDelayMs: 10, maxDelayMs: 50 }

/**
 * A core hub (node 0) and three spokes over in-memory links (one macrotask per hop), with the text codec
 * (the default) or another one. Each spoke has its own connector, so an interruption severs one spoke's
 * link; the spokes come back by themselves.
 */
export function memoryHub<W>(codec?: FrameCodec<W>) {
  return async ({
    nodeCount,
    onErrorOf,
    onStatusOf,
    schemas,
    history,
  }: TopologyContext): Promise<ConformanceTopology> => {
    // With schemas, every node has the declaration; the sender does not check what it dispatches.
    const events = schemas?.events
    const hub = new Hub<TypedEvent, W>({ onError: onErrorOf(0), codec, events, history })
    const connectors = Array.from({ length: Math.max(3, nodeCount - 1) }, () => createMemoryConnector(hub))
    const spokes = connectors.map(
      (connector, index) =>
        new Spoke<TypedEvent, W>({
          connect: connector.connect,
          codec,
          onError: onErrorOf(index + 1),
          onStatus: onStatusOf(index + 1),
          heartbeatIntervalMs: 0,
          reconnect: fast,
          events,
          validate: { dispatched: schemas?.sender !== index + 1 },
        }),
    )
    await Promise.all(spokes.map((spoke) => spoke.ready))
    return {
      nodes: [hub, ...spokes],
      interrupt: async (index) => {
        connectors[index - 1]!.sever()
        // Both ends have seen the close once the next macrotask ran.
        await new Promise((resolve) => setImmediate(resolve))
      },
      close: async () => {
        await Promise.all(spokes.map((spoke) => spoke.close()))
        await hub.close()
      },
    }
  }
}
