import type { Browser } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  bundleForBrowser,
  html,
  javascript,
  launchBrowser,
  type StaticServer,
  serveFiles,
} from '../support/browser.js'

let browser: Browser
let server: StaticServer

beforeAll(async () => {
  const [page, worker] = await Promise.all([
    bundleForBrowser(new URL('./fixtures/worker-page.ts', import.meta.url).pathname),
    bundleForBrowser(new URL('./fixtures/worker-thread.ts', import.meta.url).pathname),
  ])
  server = await serveFiles({
    '/': html('/page.js'),
    '/page.js': javascript(page),
    '/worker.js': javascript(worker),
  })
  browser = await launchBrowser()
})

afterAll(async () => {
  await browser?.close()
  await server?.close()
})

describe('worker transport in real headless Chromium', () => {
  it('links a page and its Web Worker both ways, shares a BroadcastChannel, and pairs two MessagePorts', async () => {
    const page = await browser.newPage()
    const pageErrors: string[] = []
    page.on('pageerror', (error) => pageErrors.push(error.message))
    await page.goto(`${server.origin}/`)
    await page.waitForFunction(() => {
      const state = globalThis as { result?: unknown; failure?: string }
      return state.result !== undefined || state.failure !== undefined
    })
    const state = await page.evaluate(() => {
      const { result, failure } = globalThis as { result?: unknown; failure?: string }
      return { result, failure }
    })
    expect(state.failure).toBeUndefined()
    expect(state.result).toEqual({
      pongs: [
        { n: 1, at: 1000, seen: 1 },
        { n: 2, at: 2000, seen: 2 },
        { n: 3, at: 3000, seen: 3 },
      ],
      echoes: [10, 20],
      crossed: [[7, 8]],
      errors: ['ERR_SERIALIZE:ping'],
    })
    expect(pageErrors).toEqual([])
    await page.close()
  })
})
