#!/usr/bin/env node
// Marks the deprecated names of the root entry in its built declarations (dist/index.d.ts and
// dist/index.d.cts): the declaration bundler keeps `export { … }` lists but drops the `@deprecated`
// comments that src/index.ts puts on their specifiers, and editors strike a deprecated import through
// only when the declarations say so. Usage: node scripts/mark-deprecated.mjs [dist folder]
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'

const root = join(import.meta.dirname, '..')
const dist = process.argv[2] ?? join(root, 'dist')
const source = readFileSync(join(root, 'src', 'index.ts'), 'utf8')

/** Exported name -> the deprecation text that src/index.ts gives it. */
const deprecated = new Map()
for (const match of source.matchAll(/\/\*\* (@deprecated [^*]*?) \*\/\s*(?:type\s+)?(\w+)/g)) {
  deprecated.set(match[2], match[1])
}
if (deprecated.size === 0) throw new Error('no deprecated names found in src/index.ts')

for (const file of ['index.d.ts', 'index.d.cts']) {
  const path = join(dist, file)
  let marked = 0
  const text = readFileSync(path, 'utf8').replace(/export (type )?\{([^}]*)\}/g, (statement, type, list) => {
    const specifiers = list
      .split(',')
      .map((part) => part.trim())
      .filter((part) => part !== '')
    if (!specifiers.some((specifier) => deprecated.has(specifier.split(/\s+as\s+/).at(-1)))) return statement
    const lines = specifiers.map((specifier) => {
      const note = deprecated.get(specifier.split(/\s+as\s+/).at(-1))
      if (note === undefined) return `  ${specifier},`
      marked++
      return `  /** ${note} */\n  ${specifier},`
    })
    return `export ${type ?? ''}{\n${lines.join('\n')}\n}`
  })
  if (marked !== deprecated.size) {
    throw new Error(`${file}: marked ${marked} of ${deprecated.size} deprecated names`)
  }
  writeFileSync(path, text)
}
