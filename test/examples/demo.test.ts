import { type ChildProcess, spawn } from 'node:child_process'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Browser } from 'playwright-core'
import { afterAll, describe, expect, it } from 'vitest'
import { waitFor } from '../../src/testing/index.js'
import { launchBrowser } from '../support/browser.js'

const root = fileURLToPath(new URL('../..', import.meta.url))
let demo: ChildProcess | undefined
let browser: Browser | undefined

afterAll(async () => {
  await browser?.close()
  if (demo !== undefined && demo.exitCode === null) demo.kill('SIGKILL')
})

describe('npm run demo', () => {
  it('serves a live page where events from every transport appear, then shuts down cleanly', async () => {
    const env: NodeJS.ProcessEnv = { ...process.env, PORT: '0', DEMO_DURATION_MS: '60000' }
    delete env.REDIS_URL
    demo = spawn(process.execPath, ['--import', 'tsx', 'examples/demo.ts'], { cwd: root, env })
    const output: string[] = []
    demo.stdout!.setEncoding('utf8').on('data', (chunk: string) => output.push(chunk))
    demo.stderr!.setEncoding('utf8').on('data', (chunk: string) => output.push(chunk))
    const exited = new Promise<number | null>((resolve) => demo!.once('exit', resolve))
    const url: string = await waitFor(
      () => /open (http:\/\/\S+) in a browser/.exec(output.join(''))?.[1] ?? '',
      {
        timeoutMs: 30_000,
        message: 'the demo URL',
      },
    )

    browser = await launchBrowser()
    const page = await browser.newPage({ viewport: { width: 900, height: 700 } })
    const errors: string[] = []
    page.on('pageerror', (error) => errors.push(error.message))
    await page.goto(url)
    // The loopback-only namespace of `npm test` runs the iroh part too.
    const sources = ['hub', 'worker-1', 'worker-2', 'node-spoke']
    if (process.env.EVENTWIRE_NETNS === '1') sources.push('iroh-spoke')
    await page.waitForFunction(
      (expected) => {
        const counts = (globalThis as { eventwireCounts?: Record<string, number> }).eventwireCounts ?? {}
        return expected.every((source) => (counts[source] ?? 0) >= 2)
      },
      sources,
      { timeout: 20_000 },
    )
    expect(await page.locator('#status').textContent()).toBe('connected')
    expect(errors).toEqual([])
    // EVENTWIRE_SCREENSHOT=docs/demo.png refreshes the picture in the docs.
    await page.screenshot({ path: process.env.EVENTWIRE_SCREENSHOT ?? join(tmpdir(), 'eventwire-demo.png') })

    demo.kill('SIGINT')
    expect(await exited).toBe(0)
    const text = output.join('')
    expect(text).toContain('closed cleanly')
    expect(text).not.toMatch(/ERR_|Error/)
  })
})
