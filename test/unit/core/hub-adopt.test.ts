import { describe, expect, it } from 'vitest'
import { EventwireError } from '../../../src/core/errors.js'
import { decodeFrames, encodeEvent, encodePing, encodeSub, type Frame } from '../../../src/core/frame.js'
import { Hub, type HubConnection, type HubOptions } from '../../../src/core/hub.js'
import type { Link } from '../../../src/core/link.js'
import { jsonSerializer } from '../../../src/core/serializer.js'
import { waitFor } from '../../../src/testing/index.js'

// The Hub's hooks for a transport that keeps links across restarts (a Durable Object that hibernates):
// `adopt`, `linkState` and `interestChanging`.

class RecordingLink implements Link {
  sent: string[] = []
  closedWith: { code: number; reason: string } | undefined
  send(data: string): void {
    this.sent.push(data)
  }
  close(code: number, reason: string): void {
    this.closedWith ??= { code, reason }
  }
  frames(): Frame[] {
    return this.sent.flatMap((data) => {
      const result = decodeFrames(data)
      if (!result.ok) throw result.error
      return result.frames
    })
  }
}

const nextTask = () => new Promise((resolve) => setTimeout(resolve, 0))

/** A hub that records each interest change and refuses types starting with `no-`. */
class KeepingHub extends Hub {
  readonly changes: string[] = []
  protected override interestChanging(
    connection: HubConnection,
    types: ReadonlySet<string>,
    type: string,
    isInterested: boolean,
  ): EventwireError | undefined {
    this.changes.push(`${connection.info.id} ${[...types].join(',')} ${isInterested ? '+' : '-'}${type}`)
    return type.startsWith('no-')
      ? new EventwireError('ERR_LIMIT', 'does not fit', { eventType: type })
      : undefined
  }
}

function hub(options: HubOptions = {}) {
  const errors: EventwireError[] = []
  return { hub: new KeepingHub({ onError: (error) => errors.push(error), ...options }), errors }
}

describe('Hub.adopt', () => {
  it('routes an adopted link by the types it had, with no hello awaited or written, under its old id and principal', async () => {
    const connected: unknown[] = []
    const link = new RecordingLink()
    const watched = new KeepingHub({ handshakeTimeoutMs: 20, onConnection: (info) => connected.push(info) })
    const adopted = watched.adopt(link, { id: '7', principal: { name: 'ada' }, types: ['chat'], runs: false })
    expect(adopted.info).toEqual({ id: '7', principal: { name: 'ada' } })
    expect(connected).toEqual([{ id: '7', principal: { name: 'ada' } }])
    expect(watched.remoteTypes()).toEqual(['chat'])
    expect(watched.linkState(adopted)).toMatchObject({ open: true, greeted: true, runs: false })
    watched.dispatchEvent(new CustomEvent('chat', { detail: 1 }))
    watched.dispatchEvent(new CustomEvent('other', { detail: 2 }))
    // A fresh link, accepted after the adopted one, gets the next free id, and is closed by the handshake
    // timeout; once it is, the adopted link has outlived that timeout: an adopted one is not timed.
    const fresh = new RecordingLink()
    expect(watched.accept(fresh).info.id).toBe('8')
    await waitFor(() => fresh.closedWith !== undefined, {
      timeoutMs: 2_000,
      message: 'the fresh link timed out',
    })
    expect(link.frames().map((frame) => frame.kind)).toEqual(['event'])
    expect(link.closedWith).toBeUndefined()
    // It publishes at once, without a hello.
    const got: unknown[] = []
    watched.addEventListener('chat', (event) => got.push(event.detail))
    adopted.receive(encodeEvent('chat', 'x', 'from-adopted', jsonSerializer))
    expect(got).toEqual(['from-adopted'])
    await watched.close()
  })

  it('gives a new id when the old one is taken, and answers pings as any link', async () => {
    const { hub: h } = hub()
    const first = h.accept(new RecordingLink())
    const link = new RecordingLink()
    const adopted = h.adopt(link, { id: first.info.id, types: [] })
    expect(adopted.info.id).not.toBe(first.info.id)
    adopted.receive(encodePing(3))
    await nextTask()
    expect(link.frames()).toEqual([{ kind: 'pong', id: 3 }])
    await h.close()
  })

  it('is refused like any link when the hub is full or closed', async () => {
    const { hub: h, errors } = hub({ maxConnections: 1 })
    h.accept(new RecordingLink())
    const link = new RecordingLink()
    const refused = h.adopt(link, { id: '5', types: ['chat'] })
    expect(h.linkState(refused).open).toBe(false)
    expect(link.closedWith?.code).toBe(1013)
    expect(h.remoteTypes()).toEqual([])
    expect(errors.map((error) => error.code)).toEqual(['ERR_LIMIT'])
    await h.close()
    const late = new RecordingLink()
    expect(h.linkState(h.adopt(late, { types: [] })).open).toBe(false)
    expect(late.closedWith?.code).toBe(1001)
  })
})

describe('Hub.interestChanging', () => {
  it('is told each change before it applies, and refuses a sub with the error it returns', async () => {
    const { hub: h, errors } = hub()
    const link = new RecordingLink()
    const connection = h.accept(link)
    connection.receive(
      `[4,[0,1,"spoke","spoke"],${encodeSub('a')},${encodeSub('no-b')},${encodeSub('c')},[3,"a"]]`,
    )
    await nextTask()
    expect(h.changes).toEqual([
      `${connection.info.id}  +a`,
      `${connection.info.id} a +no-b`,
      `${connection.info.id} a +c`,
      `${connection.info.id} a,c -a`,
    ])
    expect(h.remoteTypes()).toEqual(['c'])
    expect(link.frames().filter((frame) => frame.kind === 'error')).toEqual([
      { kind: 'error', code: 'ERR_LIMIT', message: 'does not fit', eventType: 'no-b' },
    ])
    expect(errors.map((error) => error.code)).toEqual(['ERR_LIMIT'])
    expect(h.stats().dropped).toBe(1)
    expect(h.linkState(connection)).toMatchObject({ open: true, greeted: true, runs: false })
    expect([...h.linkState(connection).types]).toEqual(['c'])
    await h.close()
  })
})
