import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'

const root = join(import.meta.dirname, '..', '..')
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
  exports: Record<string, unknown>
  peerDependencies: Record<string, string>
  peerDependenciesMeta: Record<string, { optional?: boolean }>
}

function sources(dir: string): string[] {
  return readdirSync(join(root, dir), { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory()
      ? sources(join(dir, entry.name))
      : entry.name.endsWith('.ts')
        ? [join(dir, entry.name)]
        : [],
  )
}

const HEAVY = ['ioredis', 'ws', 'hono', '@hono/node-server', '@number0/iroh']

describe('package layout', () => {
  it('keeps the root entry free of optional dependencies: core, pubsub and in-process import none', () => {
    const files = [
      'src/index.ts',
      ...sources('src/core'),
      ...sources('src/pubsub'),
      ...sources('src/event-target-in-process'),
    ]
    for (const file of files) {
      const text = readFileSync(join(root, file), 'utf8')
      for (const name of HEAVY) {
        expect(text, file).not.toMatch(new RegExp(`from '${name}(/[^']*)?'`))
      }
      // Only the transports folders may import each other's code; core imports no transport.
      if (file.startsWith('src/core')) expect(text, file).not.toMatch(/from '\.\.\/event-target-/)
    }
  })

  it('imports optional dependencies in transport folders as types only', () => {
    for (const file of sources('src/event-target-redis')) {
      const text = readFileSync(join(root, file), 'utf8')
      expect(text, file).not.toMatch(/^import (?!type)[^\n]* from 'ioredis'/m)
    }
  })

  it('has one export per source folder, and every optional peer is marked optional', () => {
    for (const subpath of Object.keys(pkg.exports)) {
      if (subpath === '.' || subpath === './package.json') continue
      expect(existsSync(join(root, 'src', subpath.slice(2), 'index.ts')), subpath).toBe(true)
    }
    for (const name of Object.keys(pkg.peerDependencies)) {
      expect(pkg.peerDependenciesMeta[name]?.optional, name).toBe(true)
    }
  })
})
