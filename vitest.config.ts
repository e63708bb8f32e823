import { defineConfig } from 'vitest/config'
import { filesNeeding, prerequisites } from './test/support/prerequisites.js'

// A test file whose prerequisite (redis-server, Chromium, the loopback-only network namespace that
// `npm test` makes for iroh) is missing is left out; test/prerequisites.test.ts names it as a skip, and
// fails in CI.
const leftOut = prerequisites()
  .filter((prerequisite) => prerequisite.missing !== undefined)
  .flatMap((prerequisite) => filesNeeding(prerequisite))

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    exclude: ['**/node_modules/**', ...leftOut],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // Memory-bound tests measure the heap after a full collection.
    execArgv: ['--expose-gc'],
  },
})
