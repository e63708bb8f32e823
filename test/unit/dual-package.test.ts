import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { build } from 'esbuild'
import { beforeAll, describe, expect, it } from 'vitest'

/**
 * The package ships ES modules and CommonJS. A process can load both (an ES module application with a
 * CommonJS dependency that uses eventwire too), and then holds two copies of every module. What one copy
 * records about an event or an error must be seen by the other: bridges of both copies in one cycle, and
 * `instanceof EventwireError` across copies.
 */
interface Copy {
  EventwireError: typeof import('../../src/index.js').EventwireError
  createInProcessEventTarget: typeof import('../../src/event-target-in-process/index.js').createInProcessEventTarget
  bridge: typeof import('../../src/bridge/index.js').bridge
  eventHops: typeof import('../../src/index.js').eventHops
  withHops: typeof import('../../src/index.js').withHops
}

const ENTRY = `
export { EventwireError, eventHops, withHops } from ${JSON.stringify(join(import.meta.dirname, '../../src/index.ts'))}
export { createInProcessEventTarget } from ${JSON.stringify(join(import.meta.dirname, '../../src/event-target-in-process/index.ts'))}
export { bridge } from ${JSON.stringify(join(import.meta.dirname, '../../src/bridge/index.ts'))}
`

async function bundle(format: 'esm' | 'cjs'): Promise<string> {
  const file = join(tmpdir(), `eventwire-dual-${process.pid}.${format === 'esm' ? 'mjs' : 'cjs'}`)
  await build({
    stdin: { contents: ENTRY, resolveDir: import.meta.dirname, loader: 'ts' },
    bundle: true,
    format,
    platform: 'node',
    target: 'node20',
    outfile: file,
    logLevel: 'silent',
  })
  return file
}

let esm: Copy
let cjs: Copy

beforeAll(async () => {
  const [esmFile, cjsFile] = await Promise.all([bundle('esm'), bundle('cjs')])
  esm = (await import(pathToFileURL(esmFile).href)) as Copy
  cjs = createRequire(import.meta.url)(cjsFile) as Copy
  // Two copies, as a process that loads both builds has.
  expect(esm.EventwireError).not.toBe(cjs.EventwireError)
})

describe('two copies of eventwire in one process (ES module and CommonJS builds)', () => {
  it('an EventwireError of either copy is an instance of the other copy’s class', () => {
    const fromEsm = new esm.EventwireError('ERR_CLOSED', 'closed')
    const fromCjs = new cjs.EventwireError('ERR_TIMEOUT', 'late')
    expect(fromEsm instanceof cjs.EventwireError).toBe(true)
    expect(fromCjs instanceof esm.EventwireError).toBe(true)
    expect(new Error('plain') instanceof esm.EventwireError).toBe(false)
    expect(fromCjs instanceof Error).toBe(true)
    // A subclass still narrows as usual.
    class Mine extends esm.EventwireError {}
    expect(new Mine('ERR_LIMIT', 'x') instanceof esm.EventwireError).toBe(true)
    expect(fromEsm instanceof Mine).toBe(false)
  })

  it('a hop count one copy records is read by the other', () => {
    const event = esm.withHops(new CustomEvent('t'), 3)
    expect(cjs.eventHops(event)).toBe(3)
  })

  it('bridges of both copies in one cycle deliver each event once to each node', () => {
    const nodes = [esm, cjs, esm].map((copy) => copy.createInProcessEventTarget())
    const received = nodes.map(() => [] as number[])
    nodes.forEach((node, i) => {
      node.addEventListener('t', (event) => received[i]!.push((event as CustomEvent<number>).detail))
    })
    // A ring: 0 -> 1 -> 2 -> 0, the bridges taken alternately from each copy.
    const bridges = [
      esm.bridge(nodes[0]!, nodes[1]!, { types: ['t'] }),
      cjs.bridge(nodes[1]!, nodes[2]!, { types: ['t'] }),
      esm.bridge(nodes[2]!, nodes[0]!, { types: ['t'] }),
    ]
    for (let n = 0; n < 20; n++) nodes[n % 3]!.dispatchEvent(new CustomEvent('t', { detail: n }))
    for (const [i, list] of received.entries()) {
      expect(list, `node ${i}`).toEqual(Array.from({ length: 20 }, (_, n) => n))
    }
    for (const bridge of bridges) bridge.close()
  })
})
