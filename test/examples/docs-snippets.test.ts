import { spawn } from 'node:child_process'
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join, relative } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { build } from 'esbuild'
import ts from 'typescript'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { freePort, RedisServer } from '../support/redis-server.js'

/**
 * Every TypeScript block of README.md and docs/*.md (```ts and ```typescript fences) is compiled with
 * `strict` under `moduleResolution` `bundler` and `nodenext` (one program per mode over all blocks), and
 * the runnable ones are run, each in its own Node process. `eventwire` and `eventwire/<subpath>` resolve
 * to src/, so the blocks are checked against the sources, not against a build.
 *
 * An HTML comment right above a fence, starting with `<!-- snippet`, says more about the block:
 *
 *     <!-- snippet no-run: why this block cannot run here -->
 *     <!-- snippet
 *     declare function render(detail: unknown): void
 *     -->
 *
 * Lines after the first are a hidden prelude, compiled (and run) before the block: keep it to what a
 * fragment needs (an application's own functions, a value an earlier block made). A runnable block runs
 * with `REDIS_URL` (a redis-server this test starts) and `PORT` (a free port) set; it passes when it
 * evaluates without throwing and prints nothing on stderr within a short time after (a server keeps
 * running, and is stopped then).
 */

const root = fileURLToPath(new URL('../..', import.meta.url))
const DOCUMENTS = [
  'README.md',
  ...readdirSync(join(root, 'docs'))
    .filter((name) => name.endsWith('.md'))
    .sort()
    .map((name) => `docs/${name}`),
]
/** How long a snippet's process may keep running after its module has evaluated, for late errors. */
const SETTLE_MS = 400
const RUN_TIMEOUT_MS = 20_000

interface Snippet {
  /** `docs/worker.md:25`: the document and the line of the opening fence. */
  readonly name: string
  readonly document: string
  readonly fenceLine: number
  /** What is compiled and run: the prelude lines, then the block's own lines. */
  readonly code: string
  /** Lines of `code` before the block's first line: the prelude. */
  readonly hiddenLines: number
  /** Why the block is not run; undefined when it runs. */
  readonly noRun: string | undefined
}

function parseSnippets(document: string): Snippet[] {
  const lines = readFileSync(join(root, document), 'utf8').split('\n')
  const snippets: Snippet[] = []
  let comment: string[] | undefined
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!
    if (line.startsWith('<!-- snippet')) {
      comment = [line]
      while (!comment.at(-1)!.includes('-->') && i + 1 < lines.length) comment.push(lines[++i]!)
      continue
    }
    // A fence may be indented (inside a list item): its lines lose that indentation.
    const fence = /^( *)```(\S*)/.exec(line)
    if (fence === null) {
      if (line.trim() !== '') comment = undefined
      continue
    }
    const indent = fence[1]!.length
    const start = i
    const body: string[] = []
    while (i + 1 < lines.length && !/^ *```/.test(lines[i + 1]!)) body.push(lines[++i]!.slice(indent))
    i++
    const directives = comment
    comment = undefined
    if (fence[2] !== 'ts' && fence[2] !== 'typescript') continue
    const flag = (directives?.[0] ?? '').replace('<!-- snippet', '').replace('-->', '').trim()
    if (flag !== '' && !flag.startsWith('no-run:')) {
      throw new Error(`${document}:${start + 1}: unknown snippet flag "${flag}"`)
    }
    const noRun = flag === '' ? undefined : flag.slice('no-run:'.length).trim()
    const hidden = directives?.slice(1).filter((text) => !text.includes('-->')) ?? []
    snippets.push({
      name: `${document}:${start + 1}`,
      document,
      fenceLine: start + 1,
      code: [...hidden, ...body].join('\n'),
      hiddenLines: hidden.length,
      noRun,
    })
  }
  return snippets
}

const SNIPPETS = DOCUMENTS.flatMap(parseSnippets)

/** One file per snippet, in a folder inside the project so that peers (hono, ioredis…) resolve. */
let folder: string
const fileOf = new Map<Snippet, string>()

beforeAll(() => {
  mkdirSync(join(root, '.tmp'), { recursive: true })
  folder = mkdtempSync(join(root, '.tmp', 'docs-snippets-'))
  // `nodenext` reads the folder's package.json: the snippets are ES modules (top-level await).
  writeFileSync(join(folder, 'package.json'), '{ "type": "module" }\n')
  const prelude = "process.on('unhandledRejection', (error) => { console.error(error); process.exit(1) })"
  writeFileSync(
    join(folder, 'run.mjs'),
    [
      prelude,
      'await import(process.argv[2])',
      `await new Promise((resolve) => setTimeout(resolve, ${SETTLE_MS}))`,
      'process.exit(process.exitCode ?? 0)',
    ].join('\n'),
  )
  // A snippet that closes what it opened must let its process end by itself: nothing is left open.
  writeFileSync(join(folder, 'run-to-exit.mjs'), [prelude, 'await import(process.argv[2])'].join('\n'))
  for (const snippet of SNIPPETS) {
    const base = `${snippet.document.replace(/\W+/g, '-')}-${snippet.fenceLine}.ts`
    const file = join(folder, base)
    // `export {}` keeps a block without imports a module, so blocks do not share a global scope.
    writeFileSync(file, `${snippet.code}\nexport {}\n`)
    fileOf.set(snippet, file)
  }
})
afterAll(() => {
  if (folder !== undefined) rmSync(folder, { recursive: true, force: true })
})

describe('TypeScript blocks in README.md and docs/', () => {
  it('finds the blocks, and every block that is not run says why', () => {
    expect(SNIPPETS.length).toBeGreaterThan(15)
    for (const snippet of SNIPPETS) {
      if (snippet.noRun !== undefined) expect(snippet.noRun.length, snippet.name).toBeGreaterThan(10)
    }
  })

  for (const mode of ['bundler', 'nodenext'] as const) {
    it(`compile with strict under moduleResolution ${mode}`, () => {
      const options: ts.CompilerOptions = {
        strict: true,
        target: ts.ScriptTarget.ES2022,
        lib: ['lib.es2023.d.ts', 'lib.dom.d.ts'],
        types: ['node'],
        skipLibCheck: true,
        noEmit: true,
        paths: {
          eventwire: [join(root, 'src', 'index.ts')],
          'eventwire/*': [join(root, 'src', '*', 'index.ts')],
        },
        ...(mode === 'bundler'
          ? { module: ts.ModuleKind.ESNext, moduleResolution: ts.ModuleResolutionKind.Bundler }
          : { module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext }),
      }
      const program = ts.createProgram([...fileOf.values()], options)
      const problems: string[] = program
        .getOptionsDiagnostics()
        .map((diagnostic) => describeDiagnostic(diagnostic))
      for (const snippet of SNIPPETS) {
        const source = program.getSourceFile(fileOf.get(snippet)!)!
        const diagnostics = [
          ...program.getSyntacticDiagnostics(source),
          ...program.getSemanticDiagnostics(source),
        ]
        for (const diagnostic of diagnostics) problems.push(describeDiagnostic(diagnostic, snippet))
      }
      expect(problems.join('\n')).toBe('')
    })
  }

  // Each in its own process, a few at a time: most of a run is waiting.
  describe.concurrent('run', () => {
    let redis: RedisServer | undefined

    beforeAll(async () => {
      if (SNIPPETS.some((snippet) => snippet.noRun === undefined && snippet.code.includes('REDIS_URL'))) {
        redis = await RedisServer.start()
      }
    })
    afterAll(async () => {
      await redis?.stop()
    })

    for (const snippet of SNIPPETS.filter((candidate) => candidate.noRun === undefined)) {
      it(snippet.name, async () => {
        const result = await runSnippet(
          fileOf.get(snippet)!,
          { REDIS_URL: redis?.url ?? '', PORT: String(await freePort()) },
          /\.close\(\)/.test(snippet.code),
        )
        expect(result.stderr, result.stdout).toBe('')
        expect(result.code, result.stdout).toBe(0)
      })
    }
  })
})

/** `docs/x.md:12: message`, on the line of the document (or of the hidden lines) it is about. */
function describeDiagnostic(diagnostic: ts.Diagnostic, snippet?: Snippet): string {
  const message = ts.flattenDiagnosticMessageText(diagnostic.messageText, '\n')
  if (snippet === undefined || diagnostic.file === undefined || diagnostic.start === undefined) {
    return `${snippet?.name ?? 'options'}: ${message}`
  }
  const { line } = diagnostic.file.getLineAndCharacterOfPosition(diagnostic.start)
  const where =
    diagnostic.file.fileName !== fileOf.get(snippet)
      ? relative(root, diagnostic.file.fileName)
      : line < snippet.hiddenLines
        ? `${snippet.name} (hidden line ${line + 1})`
        : `${snippet.document}:${snippet.fenceLine + line - snippet.hiddenLines + 1}`
  return `${where}: ${message}`
}

/**
 * Bundles a snippet with esbuild (its `eventwire` imports from src/, other packages left to Node) and runs
 * the bundle in a Node process. With `exitsByItself` (the snippet calls `close()`), the process must end
 * on its own within `RUN_TIMEOUT_MS`; otherwise (a server runs forever) it waits for the module to
 * evaluate, then `SETTLE_MS` for late errors, then ends it. A bundle, not tsx, because a snippet may start itself again as a
 * worker thread, where Node 20 runs no module hooks.
 */
async function runSnippet(
  file: string,
  env: Record<string, string>,
  exitsByItself: boolean,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const bundle = file.replace(/\.ts$/, '.mjs')
  await build({
    entryPoints: [file],
    outfile: bundle,
    bundle: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    packages: 'external',
    logLevel: 'silent',
    plugins: [
      {
        name: 'eventwire-from-src',
        setup(builder) {
          builder.onResolve({ filter: /^eventwire(\/[\w-]+)?$/ }, ({ path }) => ({
            path: join(root, 'src', path.slice('eventwire'.length), 'index.ts'),
          }))
        },
      },
    ],
  })
  return new Promise((resolve, reject) => {
    const runner = join(folder, exitsByItself ? 'run-to-exit.mjs' : 'run.mjs')
    const child = spawn(process.execPath, [runner, pathToFileURL(bundle).href], {
      cwd: folder,
      env: { ...process.env, ...env, NO_COLOR: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let stdout = ''
    let stderr = ''
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk
    })
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk
    })
    const timer = setTimeout(() => child.kill('SIGKILL'), RUN_TIMEOUT_MS)
    child.once('error', reject)
    child.once('exit', (code) => {
      clearTimeout(timer)
      resolve({ code, stdout, stderr })
    })
  })
}
