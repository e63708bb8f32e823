import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // iroh endpoints send a UPnP probe on every bind; they run only inside the loopback-only network
    // namespace that `npm test` makes (scripts/isolated.mjs sets EVENTWIRE_NETNS=1 there).
    exclude: process.env.EVENTWIRE_NETNS === '1' ? [] : ['test/**/iroh*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // Memory-bound tests measure the heap after a full collection.
    execArgv: ['--expose-gc'],
  },
})
