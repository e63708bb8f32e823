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
  const script = await bundleForBrowser(new URL('./fixtures/core-page.ts', import.meta.url).pathname)
  server = await serveFiles({ '/': html('/page.js'), '/page.js': javascript(script) })
  browser = await launchBrowser()
})

afterAll(async () => {
  await browser?.close()
  await server?.close()
})

describe('browser (real headless Chromium)', () => {
  it('runs the in-process target, the core hub and spokes, and createPubSub', async () => {
    const page = await browser.newPage()
    const errors: string[] = []
    page.on('pageerror', (error) => errors.push(error.message))
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
    expect(state.result).toEqual([1, 2])
    expect(errors).toEqual([])
    await page.close()
  })
})
