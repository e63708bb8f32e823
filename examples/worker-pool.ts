// A worker pool as one topology: the main thread's worker hub and three worker threads.
// Run: npx tsx examples/worker-pool.ts
import { rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Worker } from 'node:worker_threads'
import { build } from 'esbuild'
import { createWorkerHubEventTarget } from '../src/event-target-worker/index.js'
import { createEvent } from '../src/index.js'

// Worker threads cannot load TypeScript: bundle the worker script first (a build step in an app).
const file = join(tmpdir(), `eventwire-pool-${process.pid}.mjs`)
const bundled = await build({
  entryPoints: [new URL('./worker-pool-worker.ts', import.meta.url).pathname],
  bundle: true,
  format: 'esm',
  platform: 'node',
  write: false,
})
writeFileSync(file, bundled.outputFiles[0]!.text)

const pool = createWorkerHubEventTarget()
let ready = 0
pool.addEventListener('worker-ready', () => ready++)
const results: unknown[] = []
pool.addEventListener('result', (event) => results.push(event.detail))
const workers = ['w1', 'w2', 'w3'].map((name) => new Worker(file, { workerData: { name } }))
for (const worker of workers) pool.add(worker)
while (ready < workers.length) await new Promise((resolve) => setTimeout(resolve, 10))
// Every worker listens to 'job', so each job reaches all three.
for (const [id, n] of [3, 4].entries()) pool.dispatchEvent(createEvent('job', { id, n }))
while (results.length < 6) await new Promise((resolve) => setTimeout(resolve, 10))
console.log(results)
await pool.close()
await Promise.all(workers.map((worker) => worker.terminate()))
rmSync(file, { force: true })
