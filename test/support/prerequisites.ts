import { spawnSync } from 'node:child_process'
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { join, relative } from 'node:path'

/**
 * What some tests need from the machine, and which test files need it. A file whose prerequisite is
 * missing is left out of the run (vitest.config.ts), and test/prerequisites.test.ts reports it as a named
 * skip; with CI set, a missing prerequisite fails that test instead, so CI never passes with part of the
 * suite left out.
 */
export interface Prerequisite {
  readonly name: string
  /** Why it is missing, or undefined when it is there. */
  readonly missing: string | undefined
  /** How to get it. */
  readonly remedy: string
  /** True for a test file that needs it, from its path (relative to the project) and its source. */
  readonly isNeededBy: (file: string, source: string) => boolean
}

const root = join(import.meta.dirname, '..', '..')

function commandMissing(command: string, args: string[]): string | undefined {
  const result = spawnSync(command, args, { stdio: 'ignore' })
  return result.error !== undefined || result.status !== 0
    ? `\`${command}\` not found or not working`
    : undefined
}

export function prerequisites(): Prerequisite[] {
  const chromium = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'
  return [
    {
      name: 'redis-server',
      missing: commandMissing('redis-server', ['--version']) ?? commandMissing('redis-cli', ['--version']),
      remedy: 'apt-get install redis-server',
      isNeededBy: (_, source) => /support\/redis-(server|cluster)/.test(source),
    },
    {
      name: 'chromium',
      missing: existsSync(chromium) ? undefined : `no browser at ${chromium} (set CHROMIUM_PATH)`,
      remedy: 'apt-get install chromium',
      isNeededBy: (_, source) => source.includes('support/browser'),
    },
    {
      name: 'loopback-only network namespace',
      // scripts/isolated.mjs sets it inside the namespace it makes for `npm test`.
      missing: process.env.EVENTWIRE_NETNS === '1' ? undefined : 'not inside one (EVENTWIRE_NETNS is not 1)',
      remedy:
        'run `npm test` (it makes one with `unshare -rn` where Linux allows user namespaces): iroh endpoints send a UPnP probe on every bind, which must not leave the machine',
      isNeededBy: (file) => /(^|\/)iroh[^/]*\.test\.ts$/.test(file),
    },
  ]
}

/** Every test file of the project, relative to its root. */
export function testFiles(dir = join(root, 'test')): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name)
    if (entry.isDirectory()) return entry.name === 'node_modules' ? [] : testFiles(path)
    return entry.name.endsWith('.test.ts') ? [relative(root, path)] : []
  })
}

/** The test files that need `prerequisite`. */
export function filesNeeding(prerequisite: Prerequisite, files = testFiles()): string[] {
  return files.filter((file) => prerequisite.isNeededBy(file, readFileSync(join(root, file), 'utf8')))
}
