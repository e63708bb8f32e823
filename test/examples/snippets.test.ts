import { spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { afterAll, describe, expect, it } from 'vitest'
import { RedisServer } from '../support/redis-server.js'

/**
 * The documented first examples, run as they are written in their own Node process: each must do its
 * work and then let the process exit by itself once it has called close(), with no handle left open.
 */

const root = fileURLToPath(new URL('../..', import.meta.url))
/** From the last close() to the process's exit, with a loaded machine's slack: far below a hang. */
const EXIT_BOUND_MS = 15_000

const dir = mkdtempSync(join(tmpdir(), 'eventwire-snippets-'))
let server: RedisServer | undefined

afterAll(async () => {
  await server?.stop()
  rmSync(dir, { recursive: true, force: true })
})

/** The first ```ts block after the line that starts with `heading`. */
function block(file: string, heading: string): string {
  const text = readFileSync(join(root, file), 'utf8')
  const at = text.split('\n').findIndex((line) => line.startsWith(heading))
  expect(at, `${heading} in ${file}`).toBeGreaterThanOrEqual(0)
  const after = text.split('\n').slice(at).join('\n')
  const match = /```ts\n([\s\S]*?)```/.exec(after)
  expect(match, `a ts block after ${heading}`).not.toBeNull()
  return match![1]!
}

/** Points the package's specifiers at the sources, as an installed package would resolve them. */
function fromSources(code: string): string {
  return code.replace(/from 'eventwire(\/[a-z-]+)?'/g, (_match, subpath: string | undefined) => {
    const file = join(root, 'src', subpath ?? '', 'index.ts')
    return `from ${JSON.stringify(pathToFileURL(file).href)}`
  })
}

interface Exit {
  code: number | null
  signal: NodeJS.Signals | null
  output: string
}

/** Runs `code` as a TypeScript module; kills it (and reports null) if it is still alive after the bound. */
async function run(name: string, code: string): Promise<Exit> {
  const file = join(dir, `${name}.mts`)
  writeFileSync(file, code)
  const child = spawn(process.execPath, ['--import', 'tsx', file], {
    cwd: root,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, NO_COLOR: '1' },
  })
  let output = ''
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    output += chunk
  })
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
    output += chunk
  })
  const timer = setTimeout(() => child.kill('SIGKILL'), EXIT_BOUND_MS)
  const [code_, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) =>
    child.once('exit', (exitCode, exitSignal) => resolve([exitCode, exitSignal])),
  )
  clearTimeout(timer)
  return { code: code_, signal, output }
}

describe('documented snippets exit after close()', () => {
  it("README's first example, in its Redis variant (a target made from a URL)", async () => {
    server = await RedisServer.start()
    const lines = block('README.md', '## One import changes the topology').split('\n')
    const inProcess = [
      "import { createInProcessEventTarget } from 'eventwire/event-target-in-process'",
      'const target = createInProcessEventTarget<Chat>()',
    ]
    for (const line of inProcess) expect(lines).toContain(line)
    const redisLines = lines.filter((line) => /^\/\/ (import|const target = )/.test(line))
    expect(redisLines).toHaveLength(2)
    expect(redisLines[1]).toContain("{ url: 'redis://127.0.0.1:6379' }")
    // The Redis variant: the commented lines replace the in-process ones; the rest is unchanged.
    const code = lines
      .filter((line) => !inProcess.includes(line))
      .map((line) => (redisLines.includes(line) ? line.slice(3) : line))
      .join('\n')
      .replace('redis://127.0.0.1:6379', server.url)
    const exit = await run('readme-redis', fromSources(code))
    expect(exit, exit.output).toMatchObject({ code: 0, signal: null })
    expect(exit.output.trim()).toBe('ada: hello')
  })

  it("docs/worker.md's BroadcastChannel example", async () => {
    const code = block('docs/worker.md', '`BroadcastChannel`: every node on the channel')
    const exit = await run('worker-broadcast', fromSources(code))
    expect(exit, exit.output).toMatchObject({ code: 0, signal: null })
    expect(exit.output.trim()).toBe('saved doc-1')
  })
})
