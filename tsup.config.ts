import { defineConfig } from 'tsup'

// One entry per public subpath (package.json "exports"); each heavy dependency stays external so the
// root entry never loads ioredis, ws, hono or iroh.
export default defineConfig({
  entry: {
    index: 'src/index.ts',
    'pubsub/index': 'src/pubsub/index.ts',
    'event-target-in-process/index': 'src/event-target-in-process/index.ts',
    'event-target-redis/index': 'src/event-target-redis/index.ts',
    'event-target-websocket-server/index': 'src/event-target-websocket-server/index.ts',
    'event-target-websocket-client/index': 'src/event-target-websocket-client/index.ts',
    'event-target-worker/index': 'src/event-target-worker/index.ts',
    'event-target-iroh-hub/index': 'src/event-target-iroh-hub/index.ts',
    'event-target-iroh-spoke/index': 'src/event-target-iroh-spoke/index.ts',
    'event-target-durable-object/index': 'src/event-target-durable-object/index.ts',
    'bridge/index': 'src/bridge/index.ts',
    'request-reply/index': 'src/request-reply/index.ts',
    'testing/index': 'src/testing/index.ts',
    'transport/index': 'src/transport/index.ts',
  },
  format: ['esm', 'cjs'],
  // Members marked `@internal` (the Hub's hooks for its links, and the like) stay out of the published
  // declarations: they are not part of the API.
  dts: { compilerOptions: { stripInternal: true } },
  sourcemap: true,
  clean: true,
  target: 'es2022',
  // `import.meta.url` in the CommonJS build (the Redis target loads ioredis only when given a URL).
  shims: true,
  splitting: true,
  treeshake: true,
})
