import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { EventwireError } from '../../src/index.js'
import { waitFor } from '../../src/testing/index.js'
import { bundleWorker, control, type RunningWorker, startWorker } from '../support/durable-object.js'
import { client } from '../support/websocket.js'

// A Durable Object hub that hibernates with spokes connected and wakes as a new instance: the interest
// and principals kept in the sockets' attachments route as before, with no new handshake.
//
// How the eviction is forced: workerd (miniflare's runtime) evicts a Durable Object 10 s after its last
// event, as production does, and keeps its hibernatable sockets open. Nothing tells from outside that
// it happened without waking the object, so the test waits that long once, with the spokes' heartbeats
// running every 500 ms: the runtime answers them itself (auto-response), so they neither wake the object
// nor keep it from hibernating. `ctx.abort()` is no way to force it: it closes the sockets too.

/** workerd's eviction delay after the last event, plus a margin. */
const HIBERNATION_WAIT_MS = 11_500

let running: RunningWorker

beforeAll(async () => {
  const script = await bundleWorker(
    new URL('../support/durable-object-fixtures/hub-worker.ts', import.meta.url),
  )
  running = await startWorker(script, { ROOMS: 'Room' })
})

afterAll(async () => {
  await running?.close()
})

describe('durable object hub: hibernation', () => {
  it('keeps interest and principals across an eviction: the woken object routes and authorizes as before, spokes never reconnect', async () => {
    const room = 'hibernation'
    const errors: EventwireError[] = []
    const options = { heartbeatIntervalMs: 500, onError: (error: EventwireError) => errors.push(error) }
    const alice = client(`${running.wsOrigin}/rooms/${room}?token=alice`, options)
    const bob = client(`${running.wsOrigin}/rooms/${room}?token=bob`, options)
    try {
      const chats: unknown[] = []
      const echoes: Array<{ detail: unknown; instance: number }> = []
      const aliceIs: unknown[] = []
      const bobIs: unknown[] = []
      bob.addEventListener('chat', (event) => chats.push(event.detail))
      alice.addEventListener('echoed', (event) => echoes.push(event.detail as (typeof echoes)[number]))
      alice.addEventListener('you-are', (event) => aliceIs.push(event.detail))
      bob.addEventListener('you-are', (event) => bobIs.push(event.detail))
      await Promise.all([alice.ready, bob.ready])
      await Promise.all([alice.flush(), bob.flush()])

      alice.dispatchEvent(new CustomEvent('whoami'))
      bob.dispatchEvent(new CustomEvent('whoami'))
      alice.dispatchEvent(new CustomEvent('chat', { detail: 'before' }))
      await waitFor(() => aliceIs.length === 1 && bobIs.length === 1 && chats.length === 1, {
        timeoutMs: 5_000,
      })
      const before = await control(running, room)
      expect(before.instance).toBe(before.constructed)
      expect(before.remoteTypes).toEqual(['chat', 'echoed', 'you-are'])

      await new Promise((resolve) => setTimeout(resolve, HIBERNATION_WAIT_MS))

      // The first event wakes the object: a new instance, built from the attachments alone.
      for (const n of [1, 2, 3]) alice.dispatchEvent(new CustomEvent('chat', { detail: n }))
      alice.dispatchEvent(new CustomEvent('echo', { detail: 'after' }))
      alice.dispatchEvent(new CustomEvent('whoami'))
      bob.dispatchEvent(new CustomEvent('whoami'))
      // Bob may not publish this type: his principal came back from the attachment, and authorize sees it.
      bob.dispatchEvent(new CustomEvent('secret', { detail: 'x' }))
      await waitFor(
        () => chats.length === 4 && echoes.length === 1 && aliceIs.length === 2 && bobIs.length === 2,
        { timeoutMs: 5_000 },
      )
      await waitFor(() => errors.some((error) => error.code === 'ERR_UNAUTHORIZED'), { timeoutMs: 5_000 })

      const after = await control(running, room)
      expect(after.instance).toBeGreaterThan(before.instance)
      // The Worker shares the objects' isolate: its count is theirs (the browser test relies on it).
      expect(await (await fetch(`${running.origin}/constructed`)).text()).toBe(String(after.constructed))
      expect(echoes).toEqual([{ detail: 'after', instance: after.instance }])
      expect(chats).toEqual(['before', 1, 2, 3])
      // The same connection ids and principals, seen by the new instance's onConnection.
      expect(aliceIs).toEqual([
        { id: '1', principal: { name: 'alice' }, instance: before.instance },
        { id: '1', principal: { name: 'alice' }, instance: after.instance },
      ])
      expect(bobIs.map((who) => (who as { id: string; principal: unknown }).principal)).toEqual([
        { name: 'bob', may: ['chat', 'whoami', 'you-are', 'probe'] },
        { name: 'bob', may: ['chat', 'whoami', 'you-are', 'probe'] },
      ])
      expect(after.remoteTypes).toEqual(before.remoteTypes)
      const byId = (list: typeof before.connections) => [...list].sort((x, y) => x.id.localeCompare(y.id))
      expect(byId(after.connections)).toEqual(byId(before.connections))
      expect(after.errors).toEqual(['ERR_UNAUTHORIZED: not allowed to publish "secret"'])
      // No spoke had to reconnect: their heartbeats were answered all along, the object asleep or not.
      expect(alice.stats().reconnects + bob.stats().reconnects).toBe(0)
      expect(errors.map((error) => error.code)).toEqual(['ERR_UNAUTHORIZED'])

      // Interest keeps changing after the wake and is kept: a new subscription reaches its spoke.
      const probes: unknown[] = []
      bob.addEventListener('probe', (event) => probes.push(event.detail))
      await bob.flush()
      alice.dispatchEvent(new CustomEvent('probe', { detail: 'p' }))
      await waitFor(() => probes.length === 1, { timeoutMs: 5_000 })
      expect((await control(running, room)).remoteTypes).toEqual(['chat', 'echoed', 'probe', 'you-are'])
    } finally {
      await Promise.all([alice.close(), bob.close()])
    }
  })
})
