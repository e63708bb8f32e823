import { describe, expect, it } from 'vitest'
import { filesNeeding, prerequisites } from './support/prerequisites.js'

// Files whose prerequisite is missing are left out of the run by vitest.config.ts; this says so by name,
// as a skip. In CI every prerequisite must be there: the same test runs and fails.
describe('prerequisites of the suite', () => {
  for (const prerequisite of prerequisites()) {
    const { name, missing, remedy } = prerequisite
    const files = filesNeeding(prerequisite)
    const title =
      missing === undefined
        ? `${name} is there for ${files.length} test files`
        : `${name}: ${missing}; left out: ${files.join(', ')} (${remedy})`
    it.skipIf(missing !== undefined && process.env.CI === undefined)(title, () => {
      expect(missing, `${name} (${remedy})`).toBeUndefined()
    })
  }
})
