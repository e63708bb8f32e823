import { spawn } from 'node:child_process'
import {
  copyFileSync,
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { build } from 'esbuild'
import ts from 'typescript'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

const root = join(import.meta.dirname, '..', '..')

/** Newest modification time of the files under `dir` (ms). */
function newest(dir: string): number {
  return readdirSync(dir, { withFileTypes: true }).reduce((latest, entry) => {
    const path = join(dir, entry.name)
    return Math.max(latest, entry.isDirectory() ? newest(path) : statSync(path).mtimeMs)
  }, 0)
}

/** `dir` holds a build newer than every source it is made from. */
function isBuilt(dir: string): boolean {
  const marker = join(dir, 'index.d.ts')
  if (!existsSync(marker)) return false
  const sources = Math.max(
    newest(join(root, 'src')),
    statSync(join(root, 'tsup.config.ts')).mtimeMs,
    statSync(join(root, 'package.json')).mtimeMs,
  )
  return statSync(marker).mtimeMs > sources
}

function run(command: string, args: string[], cwd: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] })
    let stderr = ''
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString()
    })
    child.on('error', reject)
    child.on('exit', (code) =>
      code === 0 ? resolve() : reject(new Error(`${command} ${args.join(' ')} exited ${code}: ${stderr}`)),
    )
  })
}
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

/**
 * The published declarations, compiled the way a consumer's project compiles them: `skipLibCheck` off,
 * no DOM lib (unless the consumer is a page), and only the peers that consumer uses installed beside the
 * package. The package is copied into a temporary folder with no other `node_modules` above it, so a peer
 * that is not linked there cannot be found. Uses `dist/` when it is newer than every source (CI builds
 * before `npm test`); otherwise builds the package into a temporary folder first (about 30 s).
 */
describe('published types (dist/*.d.ts)', () => {
  interface Consumer {
    /** Packages of this repository's node_modules linked into the consumer's. */
    installed: string[]
    lib: string[]
    types: string[]
    /** The consumer's source, compiled as ESM (`.ts` under `"type": "module"`) and as CommonJS (`.cts`). */
    source: string
  }

  const CONSUMERS: Record<string, Consumer> = {
    'Node, no peer: core, pubsub, in-process, bridge, request-reply, worker and WebSocket client': {
      installed: ['@types/node'],
      lib: ['lib.es2022.d.ts'],
      types: ['node'],
      source: `
        import { BroadcastChannel, parentPort } from 'node:worker_threads'
        import { createEvent, createPubSub, defineEvents, type EventsOf, type TypedEvent } from 'eventwire'
        import { bridge } from 'eventwire/bridge'
        import { createInProcessEventTarget } from 'eventwire/event-target-in-process'
        import { createWebSocketClientEventTarget } from 'eventwire/event-target-websocket-client'
        import { createWorkerEventTarget, createWorkerHubEventTarget } from 'eventwire/event-target-worker'
        import { filter, pipe } from 'eventwire/pubsub'
        import { request, respond } from 'eventwire/request-reply'

        type Chat = TypedEvent<'chat', { text: string }>
        const local = createInProcessEventTarget<Chat>()
        local.dispatchEvent(createEvent('chat', { text: 'hi' }, { cancelable: true }))
        const pubSub = createPubSub<{ tick: [number] }>({ eventTarget: createInProcessEventTarget() })
        void pipe(pubSub.subscribe('tick'), filter((n: number) => n > 0))
        const stop = respond<{ id: string }, string>(local, 'get', ({ id }) => id)
        void request<string>(local, 'get', { id: 'a' }).finally(stop)
        const peer = createWorkerEventTarget<Chat>(parentPort!)
        const channel = createWorkerEventTarget<Chat>(new BroadcastChannel('chat'))
        const pool = createWorkerHubEventTarget<Chat>()
        bridge(pool, channel)
        const client = createWebSocketClientEventTarget<Chat>({ url: 'ws://127.0.0.1:1/ws' })
        // A declaration with a schema written by hand: no schema library, and not the spec's package.
        const text = {
          '~standard': {
            version: 1 as const,
            vendor: 'app',
            validate: (value: unknown) => (typeof value === 'string' ? { value } : { issues: [{ message: 'text' }] }),
            types: { input: '' as string, output: '' as string },
          },
        }
        const events = defineEvents({ note: text })
        const notes = createWebSocketClientEventTarget({ url: 'ws://127.0.0.1:1/ws', events })
        const note: EventsOf<typeof events> = createEvent('note', 'hi')
        notes.dispatchEvent(note)
        createPubSub({ eventTarget: notes, events }).publish('note', 'hi')
        export { client, peer }
      `,
    },
    'Node with ws only: WebSocket hub on a plain Node server': {
      installed: ['@types/node', 'ws', '@types/ws'],
      lib: ['lib.es2022.d.ts'],
      types: ['node'],
      source: `
        import { createServer } from 'node:http'
        import { WebSocketServer } from 'ws'
        import { createWebSocketServerEventTarget } from 'eventwire/event-target-websocket-server'

        interface User {
          name: string
          canPublish(type: string): boolean
        }
        const users = new Map<string, User>([['t0ken', { name: 'ada', canPublish: (type) => type === 'chat' }]])
        const hub = createWebSocketServerEventTarget({
          authenticate: (request) => users.get(new URL(request.url).searchParams.get('token') ?? ''),
          authorize: ({ principal, type }) => principal.canPublish(type),
          onConnection: (connection) => console.log(connection.principal.name),
        })
        hub.attach(createServer(), { path: '/ws' })
        new WebSocketServer({ noServer: true }).on('connection', (socket) => {
          hub.add(socket, { principal: { name: 'bob', canPublish: () => false } })
        })
        export { hub }
      `,
    },
    'Node with ioredis only: Redis target': {
      installed: ['@types/node', 'ioredis'],
      lib: ['lib.es2022.d.ts'],
      types: ['node'],
      source: `
        import { Redis } from 'ioredis'
        import { createRedisEventTarget } from 'eventwire/event-target-redis'

        export const target = createRedisEventTarget({ publishClient: new Redis(), subscribeClient: new Redis() })
      `,
    },
    'Node with @number0/iroh only: iroh hub and spoke': {
      installed: ['@types/node', '@number0/iroh'],
      lib: ['lib.es2022.d.ts'],
      types: ['node'],
      source: `
        import type { Endpoint } from '@number0/iroh'
        import { createIrohHubEventTarget } from 'eventwire/event-target-iroh-hub'
        import { createIrohSpokeEventTarget } from 'eventwire/event-target-iroh-spoke'

        declare const endpoint: Endpoint
        const hub = createIrohHubEventTarget({
          endpoint,
          authorize: ({ principal }) => principal.startsWith('a'),
        })
        const spoke = createIrohSpokeEventTarget({ endpoint, hub: 'id' })
        export { hub, spoke }
      `,
    },
    'Cloudflare Workers: a Durable Object hub and its gateway, with the workers types only': {
      installed: ['@cloudflare/workers-types'],
      lib: ['lib.es2022.d.ts'],
      types: ['@cloudflare/workers-types'],
      source: `
        import type { TypedEvent } from 'eventwire'
        import {
          createDurableObjectEventTarget,
          createDurableObjectGateway,
        } from 'eventwire/event-target-durable-object'

        type Chat = TypedEvent<'chat', { text: string }>
        interface User {
          name: string
        }
        interface Env {
          ROOMS: DurableObjectNamespace
        }
        // The runtime's own types go straight in: the package declares the slices it uses structurally.
        export class Room {
          readonly hub
          constructor(ctx: DurableObjectState) {
            this.hub = createDurableObjectEventTarget<Chat, User>(ctx, {
              authorize: ({ principal }) => principal.name !== '',
            })
          }
          fetch(request: Request): Response {
            return this.hub.fetch(request)
          }
          webSocketMessage(socket: WebSocket, message: string | ArrayBuffer): void {
            this.hub.webSocketMessage(socket, message)
          }
          webSocketClose(socket: WebSocket, code: number, reason: string, wasClean: boolean): void {
            this.hub.webSocketClose(socket, code, reason, wasClean)
          }
          webSocketError(socket: WebSocket, error: unknown): void {
            this.hub.webSocketError(socket, error)
          }
        }
        const gateway = createDurableObjectGateway<Env, User>({
          namespace: (env) => env.ROOMS,
          authenticate: (request) => ({ name: new URL(request.url).searchParams.get('user') ?? '' }),
        })
        export const worker = { fetch: (request: Request, env: Env) => gateway.fetch(request, env) }
      `,
    },
    'a page: DOM lib, no Node types, no peer': {
      installed: [],
      lib: ['lib.es2022.d.ts', 'lib.dom.d.ts'],
      types: [],
      source: `
        import { createEvent, type TypedEvent } from 'eventwire'
        import { createInProcessEventTarget } from 'eventwire/event-target-in-process'
        import { createWebSocketClientEventTarget } from 'eventwire/event-target-websocket-client'
        import { createWorkerEventTarget } from 'eventwire/event-target-worker'
        import * as bridge from 'eventwire/bridge'
        import * as pubsub from 'eventwire/pubsub'
        import * as requestReply from 'eventwire/request-reply'

        type Chat = TypedEvent<'chat', { text: string }>
        createInProcessEventTarget<Chat>().dispatchEvent(createEvent('chat', { text: 'hi' }))
        const worker = createWorkerEventTarget<Chat>(new Worker('./worker.js', { type: 'module' }))
        const channel = createWorkerEventTarget<Chat>(new BroadcastChannel('chat'))
        const { port1 } = new MessageChannel()
        const port = createWorkerEventTarget<Chat>(port1)
        const client = createWebSocketClientEventTarget<Chat>({ url: \`wss://\${location.host}/ws\` })
        export { bridge, channel, client, port, pubsub, requestReply, worker }
      `,
    },
  }

  let folder: string
  /** The built package: `dist/` when it is up to date, else a fresh build in `folder`. */
  let dist: string

  beforeAll(async () => {
    folder = mkdtempSync(join(tmpdir(), 'eventwire-consumers-'))
    dist = join(root, 'dist')
    if (!isBuilt(dist)) {
      dist = join(folder, 'dist')
      await run('npx', ['tsup', '--out-dir', dist], root)
      await run(process.execPath, [join(root, 'scripts', 'mark-deprecated.mjs'), dist], root)
    }
  }, 180_000)
  afterAll(() => {
    if (folder !== undefined) rmSync(folder, { recursive: true, force: true })
  })

  /** A consumer project: its package.json, its sources, the package's declarations and `installed`. */
  function project(name: string, consumer: Consumer): string[] {
    const dir = join(folder, name.replace(/\W+/g, '-'))
    const modules = join(dir, 'node_modules')
    const own = join(modules, 'eventwire')
    mkdirSync(own, { recursive: true })
    copyFileSync(join(root, 'package.json'), join(own, 'package.json'))
    cpSync(dist, join(own, 'dist'), {
      recursive: true,
      filter: (source) => statSync(source).isDirectory() || /\.d\.c?ts$/.test(source),
    })
    for (const name of consumer.installed) {
      mkdirSync(dirname(join(modules, name)), { recursive: true })
      symlinkSync(join(root, 'node_modules', name), join(modules, name), 'dir')
    }
    writeFileSync(join(dir, 'package.json'), '{ "type": "module" }\n')
    writeFileSync(join(dir, 'index.ts'), consumer.source)
    writeFileSync(join(dir, 'index.cts'), consumer.source)
    return [join(dir, 'index.ts'), join(dir, 'index.cts')]
  }

  for (const [name, consumer] of Object.entries(CONSUMERS)) {
    it(`compile for ${name}`, () => {
      const files = project(name, consumer)
      const dir = dirname(files[0]!)
      const options: ts.CompilerOptions = {
        target: ts.ScriptTarget.ES2022,
        module: ts.ModuleKind.NodeNext,
        moduleResolution: ts.ModuleResolutionKind.NodeNext,
        lib: consumer.lib,
        types: consumer.types,
        strict: true,
        skipLibCheck: false,
        noEmit: true,
      }
      // The peers this consumer did not install are out of reach from the package's declarations.
      const fromPackage = join(dir, 'node_modules', 'eventwire', 'dist', 'index.d.ts')
      for (const peer of HEAVY.filter((candidate) => !consumer.installed.includes(candidate))) {
        expect(ts.resolveModuleName(peer, fromPackage, options, ts.sys).resolvedModule, peer).toBeUndefined()
      }
      const program = ts.createProgram(files, options)
      // The consumer's files and the package's declarations; the linked packages are checked by their
      // own authors (and would take most of the time).
      const ours = program.getSourceFiles().filter((file) => file.fileName.startsWith(dir))
      expect(
        ours.filter((file) => file.fileName.includes('/node_modules/eventwire/')).length,
      ).toBeGreaterThan(2)
      const diagnostics = [
        ...program.getOptionsDiagnostics(),
        ...program.getGlobalDiagnostics(),
        ...ours.flatMap((file) => [
          ...program.getSyntacticDiagnostics(file),
          ...program.getSemanticDiagnostics(file),
        ]),
      ]
      const text = ts.formatDiagnostics(diagnostics, {
        getCanonicalFileName: (file) => file,
        getCurrentDirectory: () => dir,
        getNewLine: () => '\n',
      })
      expect(text).toBe('')
    })
  }

  it('keeps the root entry small: what moved is still there, marked deprecated with where it went', () => {
    const [file] = project('root entry', {
      installed: ['@types/node'],
      lib: ['lib.es2022.d.ts'],
      types: ['node'],
      source: `
        import * as root from 'eventwire'
        import { Hub, createTextCodec, filter, createPubSub, EventwireError } from 'eventwire'
        import { Hub as TransportHub } from 'eventwire/transport'
        export { root, Hub, createTextCodec, filter, createPubSub, EventwireError, TransportHub }
      `,
    })
    const dir = dirname(file!)
    const options: ts.CompilerOptions = {
      target: ts.ScriptTarget.ES2022,
      module: ts.ModuleKind.NodeNext,
      moduleResolution: ts.ModuleResolutionKind.NodeNext,
      lib: ['lib.es2022.d.ts'],
      types: ['node'],
      strict: true,
      noEmit: true,
    }
    const service = ts.createLanguageService({
      getScriptFileNames: () => [file!],
      getScriptVersion: () => '1',
      getScriptSnapshot: (name) =>
        ts.sys.fileExists(name) ? ts.ScriptSnapshot.fromString(ts.sys.readFile(name)!) : undefined,
      getCurrentDirectory: () => dir,
      getCompilationSettings: () => options,
      getDefaultLibFileName: ts.getDefaultLibFilePath,
      fileExists: ts.sys.fileExists,
      readFile: ts.sys.readFile,
    })
    // An editor strikes these through: 6385 is "'X' is deprecated".
    const deprecatedUses = service
      .getSuggestionDiagnostics(file!)
      .filter((diagnostic) => diagnostic.code === 6385)
      .map((diagnostic) => ts.flattenDiagnosticMessageText(diagnostic.messageText, ' '))
    expect(new Set(deprecatedUses)).toEqual(
      new Set(["'Hub' is deprecated.", "'createTextCodec' is deprecated.", "'filter' is deprecated."]),
    )
    expect(service.getSemanticDiagnostics(file!)).toEqual([])
    // What the root entry offers without deprecation: about 30 names.
    const checker = service.getProgram()!.getTypeChecker()
    const entry = service
      .getProgram()!
      .getSourceFile(join(dir, 'node_modules', 'eventwire', 'dist', 'index.d.ts'))!
    const exported = checker.getExportsOfModule(checker.getSymbolAtLocation(entry)!)
    const current = exported.filter(
      (symbol) =>
        !symbol.declarations?.some((declaration) =>
          ts.getJSDocTags(declaration).some((tag) => tag.tagName.text === 'deprecated'),
        ),
    )
    // 34 since schemas: `defineEvents` and `EventsOf` are what an application writes to declare its
    // events once; the rest of the schema vocabulary is in eventwire/transport.
    expect(current.length).toBeLessThanOrEqual(34)
    expect(current.map((symbol) => symbol.name)).toEqual(
      expect.arrayContaining([
        'EventwireError',
        'createEvent',
        'createPubSub',
        'request',
        'respond',
        'TypedEvent',
        'defineEvents',
        'EventsOf',
      ]),
    )
    expect(exported.length - current.length).toBeGreaterThan(80)
  })

  it('publishes no @internal member in any declaration file', () => {
    const files = readdirSync(dist, { recursive: true, encoding: 'utf8' }).filter((name) =>
      /\.d\.c?ts$/.test(name),
    )
    expect(files.length).toBeGreaterThan(20)
    for (const name of files) expect(readFileSync(join(dist, name), 'utf8'), name).not.toContain('@internal')
  })

  it("keeps bundlers away from the WebSocket client's `ws` import", async () => {
    const file = join(dist, 'event-target-websocket-client', 'index.js')
    // webpack would warn "Critical dependency: the request of a dependency is an expression", Vite that it
    // cannot analyze the import: both comments must survive the build.
    expect(readFileSync(file, 'utf8')).toMatch(
      /import\(\s*\/\* webpackIgnore: true \*\/\s*\/\* @vite-ignore \*\/\s*specifier\s*\)/,
    )
    const result = await build({
      entryPoints: [file],
      bundle: true,
      format: 'esm',
      platform: 'browser',
      write: false,
      logLevel: 'silent',
    })
    expect(result.errors).toEqual([])
    // The chunks tsup splits out are imported for their order only, and dropped under "sideEffects":
    // false: esbuild says so, harmlessly. Any other warning counts.
    expect(result.warnings.filter((warning) => !warning.text.includes('no side effects'))).toEqual([])
    // The import is left to run time, comments and all: no `ws` code in the bundle.
    const bundled = result.outputFiles[0]!.text
    expect(bundled).toMatch(/import\(\s*\/\* webpackIgnore: true \*\//)
    expect(bundled).not.toMatch(/WebSocketServer|ws does not work in the browser/)
  })
})
