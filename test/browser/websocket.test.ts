import type { Browser } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { waitFor } from '../../src/testing/index.js'
import {
  bundleForBrowser,
  html,
  javascript,
  launchBrowser,
  type StaticServer,
  serveFiles,
} from '../support/browser.js'
import { client, type RunningHub, startHub } from '../support/websocket.js'

let browser: Browser
let pages: StaticServer
let running: RunningHub

beforeAll(async () => {
  const script = await bundleForBrowser(new URL('./fixtures/websocket-page.ts', import.meta.url).pathname)
  pages = await serveFiles({ '/': html('/page.js'), '/page.js': javascript(script) })
  // The hub admits the page's origin only.
  running = await startHub({ allowedOrigins: [pages.origin] })
  browser = await launchBrowser()
})

afterAll(async () => {
  await browser?.close()
  await running?.close()
  await pages?.close()
})

describe('websocket client in real headless Chromium', () => {
  it('subscribes through the hub, receives what a Node spoke dispatches, and dispatches back', async () => {
    const node = client(running.url)
    const replies: unknown[] = []
    node.addEventListener('from-browser', (event) => replies.push(event.detail))
    await node.flush()

    const page = await browser.newPage()
    const errors: string[] = []
    page.on('pageerror', (error) => errors.push(error.message))
    await page.goto(`${pages.origin}/?hub=${encodeURIComponent(running.url)}`)
    await page.waitForFunction(() => (globalThis as { ready?: boolean }).ready === true, undefined, {
      timeout: 10_000,
    })
    expect(running.hub.remoteTypes().sort()).toEqual(['from-browser', 'to-browser'])

    for (const n of [1, 2, 3]) node.dispatchEvent(new CustomEvent('to-browser', { detail: n }))
    await waitFor(() => replies.length === 3, { timeoutMs: 10_000 })
    expect(await page.evaluate(() => (globalThis as { received?: unknown[] }).received)).toEqual([1, 2, 3])
    expect(replies).toEqual([1, 2, 3].map((n) => ({ echo: n, agent: 'chromium' })))
    expect(errors).toEqual([])
    await page.close()
    await node.close()
  })

  it('a client the hub refuses learns it within 2 s (close code 4401), does not hammer, and shows no token', async () => {
    let attempts = 0
    const refusing = await startHub({
      authenticate: () => {
        attempts++
        return false
      },
    })
    const page = await browser.newPage()
    try {
      const started = Date.now()
      await page.goto(`${pages.origin}/?hub=${encodeURIComponent(`${refusing.url}?token=hunter2`)}`)
      await page.waitForFunction(
        () => ((globalThis as { errors?: string[] }).errors ?? []).length > 0,
        undefined,
        {
          timeout: 2_000,
        },
      )
      const reported = (await page.evaluate(() => (globalThis as { errors?: string[] }).errors)) ?? []
      expect(reported[0]).toMatch(/^ERR_UNAUTHORIZED: /)
      expect(reported.join(' ')).not.toContain('hunter2')
      await waitFor(() => Date.now() - started >= 3_000, { timeoutMs: 4_000, intervalMs: 50 })
      expect(attempts).toBeGreaterThanOrEqual(1)
      expect(attempts).toBeLessThanOrEqual(3)
    } finally {
      await page.close()
      await refusing.close()
    }
  })
})
