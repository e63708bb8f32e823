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
import { bundleWorker, control, type RunningWorker, startWorker } from '../support/durable-object.js'
import { client } from '../support/websocket.js'

// The browser spoke of the WebSocket hub tests (the same page), unchanged, in a room of a Durable Object
// hub in workerd, with a Node spoke in the same room.

let browser: Browser
let pages: StaticServer
let running: RunningWorker

beforeAll(async () => {
  const [script, worker] = await Promise.all([
    bundleForBrowser(new URL('./fixtures/websocket-page.ts', import.meta.url).pathname),
    bundleWorker(new URL('../support/durable-object-fixtures/hub-worker.ts', import.meta.url)),
  ])
  pages = await serveFiles({ '/': html('/page.js'), '/page.js': javascript(script) })
  running = await startWorker(worker, { ROOMS: 'Room' })
  browser = await launchBrowser()
})

afterAll(async () => {
  await browser?.close()
  await running?.close()
  await pages?.close()
})

describe('websocket client in real headless Chromium, with a Durable Object hub', () => {
  it('subscribes through the object, receives what a Node spoke dispatches, and dispatches back', async () => {
    const hub = `${running.wsOrigin}/rooms/browser?token=alice`
    const node = client(hub)
    const replies: unknown[] = []
    node.addEventListener('from-browser', (event) => replies.push(event.detail))
    await node.flush()

    const page = await browser.newPage()
    const errors: string[] = []
    page.on('pageerror', (error) => errors.push(error.message))
    try {
      await page.goto(`${pages.origin}/?hub=${encodeURIComponent(hub)}`)
      await page.waitForFunction(() => (globalThis as { ready?: boolean }).ready === true, undefined, {
        timeout: 10_000,
      })
      expect((await control(running, 'browser')).remoteTypes).toEqual(['from-browser', 'to-browser'])

      for (const n of [1, 2, 3]) node.dispatchEvent(new CustomEvent('to-browser', { detail: n }))
      await waitFor(() => replies.length === 3, { timeoutMs: 10_000 })
      expect(await page.evaluate(() => (globalThis as { received?: unknown[] }).received)).toEqual([1, 2, 3])
      expect(replies).toEqual([1, 2, 3].map((n) => ({ echo: n, agent: 'chromium' })))
      expect(await page.evaluate(() => (globalThis as { errors?: string[] }).errors)).toEqual([])
      expect(errors).toEqual([])
    } finally {
      await page.close()
      await node.close()
    }
  })

  it('a client the gateway refuses learns it in the page (close code 4401), without the object running', async () => {
    const constructed = async () => Number(await (await fetch(`${running.origin}/constructed`)).text())
    const before = await constructed()
    const page = await browser.newPage()
    try {
      await page.goto(
        `${pages.origin}/?hub=${encodeURIComponent(`${running.wsOrigin}/rooms/refused?token=mallory`)}`,
      )
      await page.waitForFunction(
        () => ((globalThis as { errors?: string[] }).errors ?? []).length > 0,
        undefined,
        { timeout: 5_000 },
      )
      const reported = (await page.evaluate(() => (globalThis as { errors?: string[] }).errors)) ?? []
      expect(reported[0]).toMatch(/^ERR_UNAUTHORIZED: /)
      expect(reported.join(' ')).not.toContain('mallory')
      // No object was made for the refused client (the isolate's count, read from the Worker).
      expect(await constructed()).toBe(before)
    } finally {
      await page.close()
    }
  })
})
