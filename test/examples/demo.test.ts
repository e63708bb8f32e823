import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { describe, expect, it } from 'vitest'

const run = promisify(execFile)

describe('npm run demo', () => {
  it('runs the embedded topology with no external service and closes cleanly', async () => {
    const env = { ...process.env }
    delete env.REDIS_URL
    const { stdout, stderr } = await run(process.execPath, ['--import', 'tsx', 'examples/demo.ts'], {
      env,
      timeout: 30_000,
    })
    expect(stderr).toBe('')
    const chats = stdout.split('\n').filter((line) => line.includes('got chat from'))
    // 3 messages, each delivered once on each of the 4 nodes.
    expect(chats).toHaveLength(12)
    for (const node of ['hub', 'ada', 'grace', 'linus']) {
      expect(chats.filter((line) => line.includes(`[${node}]`))).toHaveLength(3)
    }
    expect(stdout).toContain('closed cleanly')
  })
})
