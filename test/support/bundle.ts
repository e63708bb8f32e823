import { createHash } from 'node:crypto'
import { existsSync, renameSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { build } from 'esbuild'

/**
 * Bundles a TypeScript entry (a worker script, say) and what it imports into one Node ES module in the
 * temp folder, and returns its path. The file is named by its content, so every run of the same sources
 * shares one file and nothing piles up, even when a test process is ended without an `exit` event.
 */
export async function bundleForNode(entry: string | URL, name: string): Promise<string> {
  const result = await build({
    entryPoints: [typeof entry === 'string' ? entry : entry.pathname],
    bundle: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    write: false,
    logLevel: 'silent',
  })
  const text = result.outputFiles[0]!.text
  const hash = createHash('sha256').update(text).digest('hex').slice(0, 16)
  const file = join(tmpdir(), `eventwire-${name}-${hash}.mjs`)
  if (!existsSync(file)) {
    // Written aside and renamed, so a process starting a worker never reads half a file.
    const partial = `${file}.${process.pid}.tmp`
    writeFileSync(partial, text)
    renameSync(partial, file)
  }
  return file
}
