/**
 * Runs every benchmark file in this folder (any `bench/*.ts` exporting `run()`), or only those named:
 * `npm run bench -- dispatch pubsub`. Each file is bundled first, then runs in its own plain Node
 * process, so JIT feedback, heap baselines and stray handles (a reconnecting client) never leak from one
 * benchmark into the next, and a benchmark that hangs is killed after a timeout. A failed sanity check
 * fails the run with exit code 1.
 *
 * Why bundle: the TypeScript loader keeps function names (`keepNames`), which costs every named closure
 * an `Object.defineProperty` when it is created. Code built for the package does not pay that, and the
 * peers we compare with come prebuilt, so measuring our sources through the loader would charge us for
 * something no user runs (about a tenth of the main thread in a profile of concurrent requests).
 */
import { spawnSync } from 'node:child_process'
import { mkdirSync, readdirSync, rmSync } from 'node:fs'
import { cpus } from 'node:os'
import { fileURLToPath } from 'node:url'
import { build } from 'esbuild'
import { ROUND_MS, ROUNDS } from './harness.js'

const TIMEOUT_MS = 10 * 60_000
/** More flags for each benchmark's process (BENCH_NODE_ARGS, e.g. "--cpu-prof --cpu-prof-dir=/tmp/p"). */
const nodeArgs = (process.env.BENCH_NODE_ARGS ?? '').split(' ').filter((arg) => arg !== '')
const dir = new URL('./', import.meta.url)
/**
 * Bundles go one level below the project root, as `bench/` is, so the paths benchmarks build from
 * `import.meta.url` (`../test/support/...`) still resolve, and so do the packages in node_modules.
 */
const buildDir = fileURLToPath(new URL('../.tmp/', import.meta.url))
/** Ranks for the run order; unranked files run in between, alphabetically. */
const rank: Record<string, number> = { dispatch: -2, pubsub: -1, memory: 1 }
const available = readdirSync(dir)
  .filter((file) => file.endsWith('.ts') && file !== 'index.ts' && file !== 'harness.ts')
  .map((file) => file.slice(0, -3))
  .sort((a, b) => (rank[a] ?? 0) - (rank[b] ?? 0) || a.localeCompare(b))

const requested = process.argv.slice(2)
const unknown = requested.filter((name) => !available.includes(name))
if (unknown.length > 0) {
  console.error(`unknown benchmark: ${unknown.join(', ')} (available: ${available.join(', ')})`)
  process.exit(2)
}

const cpu = cpus()[0]?.model.trim() ?? 'unknown cpu'
console.log(
  `eventwire bench: node ${process.version}, ${process.platform}/${process.arch}, ${cpus().length} cores ` +
    `(${cpu}); ${ROUNDS} interleaved rounds x ${ROUND_MS} ms, medians`,
)

/** One runnable file per benchmark: its `run()`, then an exit, so leftover handles cannot keep it alive. */
async function bundle(name: string): Promise<string> {
  const entry = fileURLToPath(new URL(`${name}.ts`, dir))
  const outfile = `${buildDir}bench-${name}.mjs`
  await build({
    stdin: {
      contents: [
        `import * as benchmark from ${JSON.stringify(entry)}`,
        `if (typeof benchmark.run !== 'function') throw new Error('bench/${name}.ts exports no run()')`,
        'try {',
        '  await benchmark.run()',
        '} catch (error) {',
        `  console.error('\\n${name} FAILED:', error)`,
        '  process.exit(1)',
        '}',
        'process.exit(0)',
      ].join('\n'),
      resolveDir: fileURLToPath(dir),
      sourcefile: `${name}-runner.ts`,
      loader: 'ts',
    },
    outfile,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    // Packages stay in node_modules, exactly as installed; only our own modules are bundled.
    packages: 'external',
    logLevel: 'warning',
  })
  return outfile
}

mkdirSync(buildDir, { recursive: true })
const failed: string[] = []
for (const name of requested.length > 0 ? requested : available) {
  console.log(`\n=== ${name} ${'='.repeat(Math.max(0, 70 - name.length))}`)
  const file = await bundle(name)
  try {
    const child = spawnSync(process.execPath, ['--expose-gc', ...nodeArgs, file], {
      stdio: 'inherit',
      timeout: TIMEOUT_MS,
    })
    if (child.status !== 0) {
      failed.push(name)
      if (child.signal !== null)
        console.error(`\n${name} FAILED: killed by ${child.signal} (timeout ${TIMEOUT_MS} ms?)`)
    }
  } finally {
    rmSync(file, { force: true })
  }
}
if (failed.length > 0) {
  console.error(`\nfailed: ${failed.join(', ')}`)
  process.exitCode = 1
}
