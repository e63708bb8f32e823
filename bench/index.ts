/**
 * Runs every benchmark file in this folder (any `bench/*.ts` exporting `run()`), or only those named:
 * `npm run bench -- dispatch pubsub`. Each file runs in its own Node process, so JIT feedback, heap
 * baselines and stray handles (a reconnecting client) never leak from one benchmark into the next, and a
 * benchmark that hangs is killed after a timeout. A failed sanity check fails the run with exit code 1.
 */
import { spawnSync } from 'node:child_process'
import { readdirSync } from 'node:fs'
import { cpus } from 'node:os'
import { fileURLToPath } from 'node:url'
import { ROUND_MS, ROUNDS } from './harness.js'

const TIMEOUT_MS = 10 * 60_000
const dir = new URL('./', import.meta.url)
/** Ranks for the run order; unranked files run in between, alphabetically. */
const rank: Record<string, number> = { dispatch: -2, pubsub: -1, memory: 1 }
const available = readdirSync(dir)
  .filter((file) => file.endsWith('.ts') && file !== 'index.ts' && file !== 'harness.ts')
  .map((file) => file.slice(0, -3))
  .sort((a, b) => (rank[a] ?? 0) - (rank[b] ?? 0) || a.localeCompare(b))

const isChild = process.env.EVENTWIRE_BENCH_CHILD === '1'
const requested = process.argv.slice(2)
const unknown = requested.filter((name) => !available.includes(name))
if (unknown.length > 0) {
  console.error(`unknown benchmark: ${unknown.join(', ')} (available: ${available.join(', ')})`)
  process.exit(2)
}

if (!isChild) {
  const cpu = cpus()[0]?.model.trim() ?? 'unknown cpu'
  console.log(
    `eventwire bench: node ${process.version}, ${process.platform}/${process.arch}, ${cpus().length} cores ` +
      `(${cpu}); ${ROUNDS} interleaved rounds x ${ROUND_MS} ms, medians`,
  )
}

const names = requested.length > 0 ? requested : available
if (isChild || names.length === 1) {
  const name = names[0]!
  console.log(`\n=== ${name} ${'='.repeat(Math.max(0, 70 - name.length))}`)
  try {
    const module: { run?: () => Promise<void> } = await import(new URL(`${name}.ts`, dir).href)
    if (typeof module.run !== 'function') throw new Error(`bench/${name}.ts exports no run()`)
    await module.run()
  } catch (error) {
    console.error(`\n${name} FAILED:`, error)
    process.exit(1)
  }
  process.exit(0) // a benchmark's leftover handles must not keep the run alive
}

const failed: string[] = []
for (const name of names) {
  const child = spawnSync(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url), name], {
    stdio: 'inherit',
    env: { ...process.env, EVENTWIRE_BENCH_CHILD: '1' },
    timeout: TIMEOUT_MS,
  })
  if (child.status !== 0) {
    failed.push(name)
    if (child.signal !== null)
      console.error(`\n${name} FAILED: killed by ${child.signal} (timeout ${TIMEOUT_MS} ms?)`)
  }
}
if (failed.length > 0) {
  console.error(`\nfailed: ${failed.join(', ')}`)
  process.exitCode = 1
}
