import { existsSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import { build } from 'esbuild'
import { type Browser, chromium } from 'playwright-core'

/** Debian's Chromium; nothing downloads a browser. Override with CHROMIUM_PATH. */
export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'

export function hasChromium(): boolean {
  return existsSync(CHROMIUM_PATH)
}

/**
 * Headless Chromium with everything that would reach beyond this machine turned off (background
 * networking, component updates, sync), as root needs `--no-sandbox`.
 */
export async function launchBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM_PATH,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--disable-dev-shm-usage',
    ],
  })
}

/** Bundles a TypeScript entry (and what it imports from src/) into one browser ES module. */
export async function bundleForBrowser(entry: string): Promise<string> {
  const result = await build({
    entryPoints: [entry],
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    write: false,
    logLevel: 'silent',
  })
  return result.outputFiles[0]!.text
}

export interface StaticFile {
  contentType: string
  body: string
}

export interface StaticServer {
  /** `http://127.0.0.1:<port>` */
  readonly origin: string
  readonly server: Server
  close(): Promise<void>
}

/** Serves fixed files on a free loopback port (path -> file); anything else is a 404. */
export async function serveFiles(files: Record<string, StaticFile>): Promise<StaticServer> {
  const server = createServer((request, response) => {
    const file = files[new URL(request.url ?? '/', 'http://localhost').pathname]
    if (file === undefined) {
      response.writeHead(404).end()
      return
    }
    response.writeHead(200, { 'content-type': file.contentType, 'cache-control': 'no-store' }).end(file.body)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const address = server.address()
  if (address === null || typeof address === 'string') throw new Error('no address')
  return {
    origin: `http://127.0.0.1:${address.port}`,
    server,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}

export const html = (script: string): StaticFile => ({
  contentType: 'text/html; charset=utf-8',
  body: `<!doctype html><meta charset="utf-8"><title>eventwire</title><script type="module" src="${script}"></script>`,
})

export const javascript = (body: string): StaticFile => ({
  contentType: 'text/javascript; charset=utf-8',
  body,
})
