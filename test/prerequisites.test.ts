import { describe, expect, it } from 'vitest'
import { filesNeeding, prerequisites } from './support/prerequisites.js'

// Files whose prerequisite is missing are left out of the run by vitest.config.ts; this says so by name.
// In CI every prerequisite must be there.
describe('prerequisites of the suite', () => {
  for (const prerequisite of prerequisites()) {
    const files = filesNeeding(prerequisite)
    if (prerequisite.missing !== undefined && process.env.CI === undefined) {
      it.skip(`${prerequisite.name}: ${prerequisite.missing}; left out: ${files.join(', ')} (${prerequisite.remedy})`, () => {})
      continue
    }
    it(`${prerequisite.name} is there for ${files.length} test files`, () => {
      expect(prerequisite.missing, `${prerequisite.name} (${prerequisite.remedy})`).toBeUndefined()
    })
  }
})
