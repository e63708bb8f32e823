import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { WebSocket } from 'ws'
import { waitFor } from '../../src/testing/index.js'
import { bundleWorker, control, type RunningWorker, startWorker } from '../support/durable-object.js'
import { client, rawClient } from '../support/websocket.js'

// A Durable Object hub facing hostile peers, in workerd behind the gateway Worker. Each attack runs
// while a well-behaved control spoke receives a numbered stream from another spoke: it must get every
// event, in order. The object's `onError` and stats are read through the room's control route.

const HELLO = '[0,1,"raw","spoke"]'

let running: RunningWorker
let rooms = 0
const cleanup: Array<() => Promise<unknown> | unknown> = []

beforeAll(async () => {
  const script = await bundleWorker(
    new URL('../support/durable-object-fixtures/hub-worker.ts', import.meta.url),
  )
  running = await startWorker(script, { ROOMS: 'Room' })
})

afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step()
})

afterAll(async () => {
  await running?.close()
})

function roomUrl(room: string, token = 'alice'): string {
  return `${running.wsOrigin}/rooms/${room}?token=${token}`
}

/** A fresh room with a control spoke that checks a numbered stream sent by a second spoke. */
async function roomWithControl() {
  const room = `hostile-${++rooms}`
  const sender = client(roomUrl(room))
  const receiver = client(roomUrl(room))
  cleanup.push(() => Promise.all([sender.close(), receiver.close()]))
  const got: number[] = []
  receiver.addEventListener('tick', (event) => got.push(event.detail as number))
  await Promise.all([sender.ready, receiver.ready])
  await receiver.flush()
  const stream = async (count: number) => {
    const start = got.length
    for (let n = start; n < start + count; n++) sender.dispatchEvent(new CustomEvent('tick', { detail: n }))
    await waitFor(() => got.length >= start + count, { timeoutMs: 10_000 })
    expect(got).toEqual(Array.from({ length: start + count }, (_, n) => n))
  }
  return { room, stream }
}

/** A raw socket into the room that has said hello and had its handshake answered. */
async function rawSpoke(room: string) {
  const peer = await rawClient(cleanup, roomUrl(room))
  peer.socket.send(`[4,${HELLO},[6,1]]`)
  await waitFor(() => peer.frames.some((frame) => frame[0] === 7 && frame[1] === 1), { timeoutMs: 5_000 })
  return peer
}

describe('durable object hub: garbage frames', () => {
  it('answers each malformed message with an error frame, keeps the link, and the room keeps flowing', async () => {
    const { room, stream } = await roomWithControl()
    const attacker = await rawSpoke(room)
    const garbage = [
      'not json',
      '{"a":1}',
      '[]',
      '[99,"x"]',
      '[1]',
      '[2,""]',
      '[4,[4,[2,"a"]]]',
      `[2,"${'t'.repeat(300)}"]`,
      '[0,1,"again","spoke"]',
    ]
    for (const text of garbage) attacker.socket.send(text)
    // Invalid UTF-8 in a binary message.
    attacker.socket.send(Buffer.from([0xff, 0xfe, 0xfd]))
    await stream(200)
    attacker.socket.send('[6,2]')
    await waitFor(() => attacker.frames.some((frame) => frame[0] === 7 && frame[1] === 2), {
      timeoutMs: 5_000,
    })
    expect(attacker.closed()).toBeUndefined()
    expect(attacker.errorFrames().map((frame) => frame[1])).toEqual([
      ...Array.from({ length: 8 }, () => 'ERR_FRAME_MALFORMED'),
      'ERR_FRAME_MALFORMED',
      'ERR_FRAME_MALFORMED',
    ])
    const state = await control(running, room)
    expect(state.stats.dropped).toBe(10)
    expect(state.errors).toHaveLength(10)
    await stream(100)
  })

  it('closes a link whose first frame is no hello with 1002, or that speaks another version', async () => {
    const { room, stream } = await roomWithControl()
    const noHello = await rawClient(cleanup, roomUrl(room))
    noHello.socket.send('[2,"tick"]')
    const otherVersion = await rawClient(cleanup, roomUrl(room))
    otherVersion.socket.send('[0,2,"future","spoke"]')
    await waitFor(() => noHello.closed() !== undefined && otherVersion.closed() !== undefined, {
      timeoutMs: 5_000,
    })
    expect(noHello.closed()?.code).toBe(1002)
    expect(noHello.errorFrames().map((frame) => frame[1])).toEqual(['ERR_FRAME_MALFORMED'])
    expect(otherVersion.closed()?.code).toBe(1002)
    expect(otherVersion.errorFrames().map((frame) => frame[1])).toEqual(['ERR_PROTOCOL_VERSION'])
    await stream(100)
    expect((await control(running, room)).stats.connections).toBe(2)
  })
})

describe('durable object hub: oversized frames', () => {
  it('past limits.maxFrameBytes: an error frame, 1009, dropped + 1, ERR_FRAME_TOO_LARGE to onError', async () => {
    const { room, stream } = await roomWithControl()
    const attacker = await rawSpoke(room)
    // The fixture's hub allows 2,000,000 bytes.
    attacker.socket.send(`[1,"tick","raw","${'o'.repeat(2_100_000)}"]`)
    await waitFor(() => attacker.closed() !== undefined, { timeoutMs: 5_000 })
    expect(attacker.closed()?.code).toBe(1009)
    expect(attacker.errorFrames().map((frame) => frame[1])).toEqual(['ERR_FRAME_TOO_LARGE'])
    const state = await control(running, room)
    expect(state.stats.dropped).toBe(1)
    expect(state.errors).toEqual([expect.stringMatching(/^ERR_FRAME_TOO_LARGE: /)])
    await stream(100)
  })
})

describe('durable object hub: spokes that vanish', () => {
  it("drops a vanished spoke's interest and connection; the others keep receiving", async () => {
    const { room, stream } = await roomWithControl()
    const socket = new WebSocket(roomUrl(room))
    cleanup.push(() => socket.terminate())
    await new Promise((resolve, reject) => {
      socket.once('open', resolve)
      socket.once('error', reject)
    })
    socket.send(`[4,${HELLO},[2,"only-mine"],[6,1]]`)
    await waitFor(async () => (await control(running, room)).remoteTypes.includes('only-mine'), {
      timeoutMs: 5_000,
    })
    // Gone without a close handshake, as a dead network would leave it.
    socket.terminate()
    await waitFor(async () => !(await control(running, room)).remoteTypes.includes('only-mine'), {
      timeoutMs: 5_000,
    })
    const state = await control(running, room)
    expect(state.stats.connections).toBe(2)
    expect(state.connections).toHaveLength(2)
    await stream(100)
  })
})

describe('durable object hub: the gateway', () => {
  it('refuses an unknown client with 4401 before the object runs, and ignores a principal header a client sends', async () => {
    const { room, stream } = await roomWithControl()
    const refused = new WebSocket(roomUrl(room, 'mallory'))
    const code = await new Promise<number>((resolve) => refused.once('close', resolve))
    expect(code).toBe(4401)

    const forged = new WebSocket(roomUrl(room, 'bob'), {
      headers: { 'x-eventwire-principal': encodeURIComponent('{"name":"admin"}') },
    })
    cleanup.push(() => forged.terminate())
    const frames: unknown[][] = []
    forged.on('message', (data) => {
      const frame = JSON.parse(String(data)) as unknown[]
      frames.push(...(frame[0] === 4 ? (frame.slice(1) as unknown[][]) : [frame]))
    })
    await new Promise((resolve) => forged.once('open', resolve))
    forged.send(`[4,${HELLO},[2,"you-are"],[1,"whoami","raw",null]]`)
    await waitFor(() => frames.some((frame) => frame[0] === 1 && frame[1] === 'you-are'), {
      timeoutMs: 5_000,
    })
    const answer = frames.find((frame) => frame[0] === 1 && frame[1] === 'you-are')!
    expect((answer[3] as { principal: { name: string } }).principal.name).toBe('bob')
    await stream(100)
  })

  it("refuses a client whose principal does not fit in a socket's attachment with 1008", async () => {
    const { room, stream } = await roomWithControl()
    const huge = await rawClient(cleanup, roomUrl(room, 'huge'))
    await waitFor(() => huge.closed() !== undefined, { timeoutMs: 5_000 })
    expect(huge.closed()?.code).toBe(1008)
    const state = await control(running, room)
    expect(state.errors).toEqual([expect.stringMatching(/^ERR_LIMIT: a principal does not fit/)])
    expect(state.connections).toHaveLength(2)
    // Refused before the hub took it: no hello, no frame.
    expect(huge.frames).toEqual([])
    await stream(100)
  })

  it("refuses subscriptions that no longer fit in the socket's attachment with ERR_LIMIT, keeping the others", async () => {
    const { room, stream } = await roomWithControl()
    const attacker = await rawSpoke(room)
    const types = Array.from({ length: 90 }, (_, i) => `${String(i).padStart(3, '0')}${'t'.repeat(250)}`)
    attacker.socket.send(`[4,${types.map((type) => `[2,"${type}"]`).join(',')},[6,2]]`)
    await waitFor(() => attacker.frames.some((frame) => frame[0] === 7 && frame[1] === 2), {
      timeoutMs: 5_000,
    })
    const refused = attacker.errorFrames()
    expect(refused.length).toBeGreaterThan(0)
    expect(refused.every((frame) => frame[1] === 'ERR_LIMIT')).toBe(true)
    const state = await control(running, room)
    const kept = state.remoteTypes.filter((type) => type !== 'tick')
    // What was kept is a prefix, and kept plus refused is everything sent.
    expect(kept).toEqual(types.slice(0, kept.length))
    // Every refusal is counted; error frames are rate-limited (10 a second per link).
    expect(state.stats.dropped).toBe(types.length - kept.length)
    expect(JSON.stringify(kept).length).toBeLessThan(16_384)
    await stream(100)
  })
})
