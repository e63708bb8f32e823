/**
 * What the main thread and the Comlink worker of bench/realistic.ts share: the node adapter and the two
 * objects they expose to each other on the one endpoint between them. Kept out of realistic-common.ts so
 * that the spokes', Redis, NATS and iroh children never load Comlink.
 */
import adapter from 'comlink/dist/umd/node-adapter.js'
import type { Ack, Detail } from './realistic-common.js'

/**
 * The adapter bench/comlink.ts uses. It is a UMD bundle whose `module.exports` is the function itself,
 * but its types declare an ES `export default`, so under NodeNext TypeScript types the default import as
 * the module object. At run time (these esbuild bundles leave packages to Node) it is the function. Not
 * imported from the fixture of bench/comlink.ts: importing that file in a worker starts its service.
 */
export const nodeEndpoint: typeof adapter.default = typeof adapter === 'function' ? adapter : adapter.default

/** What the worker exposes: the method the main thread calls once per event, without awaiting it. */
export interface DetailSink {
  take(detail: Detail): void
  /**
   * Answers once every call made before it has been answered, as Comlink answers in order on one
   * endpoint: the main thread awaits it at the end of each window (see bench/realistic.ts).
   */
  drain(): void
}

/** What the main thread exposes to the worker, on the same endpoint: where acknowledgements arrive. */
export interface AckSink {
  ack(ack: Ack): void
}
