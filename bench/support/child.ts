import { fileURLToPath } from 'node:url'
import { build } from 'esbuild'

/**
 * Bundles the script of a benchmark's child process (spokes in another process, a worker) into
 * `.tmp/bench-<name>-<pid>.mjs`, next to the benchmark bundles so the packages it leaves external resolve
 * from node_modules, and returns its path. `entry` is resolved against the running bundle, as the
 * benchmarks build their paths (`../bench/support/...`).
 */
export async function bundleChild(entry: string, name: string): Promise<string> {
  const file = fileURLToPath(new URL(`../.tmp/bench-${name}-${process.pid}.mjs`, import.meta.url))
  await build({
    entryPoints: [fileURLToPath(new URL(entry, import.meta.url))],
    outfile: file,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    packages: 'external',
    logLevel: 'warning',
  })
  return file
}

/** Node flags for every child process of a benchmark (BENCH_CHILD_ARGS, e.g. "--cpu-prof --cpu-prof-dir=/tmp/p"). */
export const childExecArgv = (): string[] =>
  (process.env.BENCH_CHILD_ARGS ?? '').split(' ').filter((arg) => arg !== '')
