import { createPubSub as createYogaPubSub } from '@graphql-yoga/subscription'
import type { Endpoint } from '@number0/iroh'
import { afterEach, describe, expect, it } from 'vitest'
import { createIrohHubEventTarget } from '../../src/event-target-iroh-hub/index.js'
import { createIrohSpokeEventTarget } from '../../src/event-target-iroh-spoke/index.js'
import type { EventwireError, EventwireStatus, TypedEventTarget } from '../../src/index.js'
import { waitFor } from '../../src/testing/index.js'
import { MemoryHistory } from '../../src/transport/index.js'
import { bindHubEndpoint, bindLoopbackEndpoint, loopbackAddr, recordingEndpoint } from '../support/iroh.js'
import { client, interruptibleClient, startHub } from '../support/websocket.js'

// Issue 17: a spoke cut for at least 1 s under 10,000 events/s gets every one of them back, in order,
// nothing twice, on each hub transport whose links reconnect. The hub keeps enough history for the cut.

const cleanup: Array<() => Promise<unknown> | unknown> = []
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step()
})

/** The receiver stays away between 1 and 2 s: its backoff before the first retry is in that range. */
const CUT = { initialDelayMs: 2_000, maxDelayMs: 2_000 }
const history = () => ({ types: ['tick'], store: new MemoryHistory({ maxEvents: 100_000 }) })

interface Run {
  dispatcher: TypedEventTarget<CustomEvent>
  receiver: TypedEventTarget<CustomEvent>
  statuses: EventwireStatus[]
  errors: EventwireError[]
  interrupt(): Promise<void>
}

/** 100 events every 10 ms from the dispatcher; the receiver is cut once the stream runs. */
async function cutUnderStream({ dispatcher, receiver, statuses, errors, interrupt }: Run) {
  const got: number[] = []
  receiver.addEventListener('tick', (event) => got.push(event.detail as number))
  await (receiver as unknown as { flush(): Promise<void> }).flush()
  let sent = 0
  const timer = setInterval(() => {
    for (let i = 0; i < 100; i++) dispatcher.dispatchEvent(new CustomEvent('tick', { detail: ++sent }))
  }, 10)
  let cutMs = 0
  try {
    await waitFor(() => got.length >= 2_000, { timeoutMs: 5_000, message: 'the stream before the cut' })
    const cutAt = Date.now()
    await interrupt()
    await waitFor(() => statuses.filter((status) => status.type === 'connected').length >= 2, {
      timeoutMs: 5_000,
      message: 'the receiver back',
    })
    cutMs = Date.now() - cutAt
    const back = sent
    await waitFor(() => sent >= back + 2_000, { timeoutMs: 5_000, message: 'the stream after the cut' })
  } finally {
    clearInterval(timer)
  }
  await waitFor(() => got.length >= sent, { timeoutMs: 5_000, message: `all ${sent} events` })
  await (dispatcher as unknown as { flush(): Promise<void> }).flush()
  await (receiver as unknown as { flush(): Promise<void> }).flush()
  expect(cutMs).toBeGreaterThanOrEqual(1_000)
  expect(got.length).toBe(sent)
  expect(got.every((n, i) => n === i + 1)).toBe(true)
  const recovered = statuses.find((status) => status.type === 'recovered')
  // About 10,000 a second, for the second or more it was away.
  expect(recovered).toMatchObject({ type: 'recovered', eventType: 'tick' })
  expect((recovered as { count: number }).count).toBeGreaterThan(5_000)
  expect(statuses.filter((status) => status.type === 'gap')).toEqual([])
  expect(errors.filter((error) => error.code !== 'ERR_CONNECTION')).toEqual([])
}

describe('recovery under 10,000 events/s: a receiver cut for 1 s gets everything, in order, once', () => {
  it('websocket hub', async () => {
    const errors: EventwireError[] = []
    const statuses: EventwireStatus[] = []
    const running = await startHub({ onError: (error) => errors.push(error), history: history() })
    cleanup.push(() => running.close())
    const receiver = interruptibleClient(running.url, {
      onError: (error) => errors.push(error),
      onStatus: (status) => statuses.push(status),
      reconnect: CUT,
    })
    const dispatcher = client(running.url, { onError: (error) => errors.push(error) })
    cleanup.push(
      () => receiver.target.close(),
      () => dispatcher.close(),
    )
    await Promise.all([receiver.target.ready, dispatcher.ready])
    await cutUnderStream({
      dispatcher,
      receiver: receiver.target,
      statuses,
      errors,
      interrupt: () => receiver.interrupt(),
    })
  }, 15_000)

  it('iroh hub', async () => {
    const errors: EventwireError[] = []
    const statuses: EventwireStatus[] = []
    const hubEndpoint = await bindHubEndpoint()
    const endpoints: Endpoint[] = [await bindLoopbackEndpoint(), await bindLoopbackEndpoint()]
    cleanup.push(() => Promise.all([hubEndpoint, ...endpoints].map((endpoint) => endpoint.close())))
    const hub = createIrohHubEventTarget({
      endpoint: hubEndpoint,
      onError: (error) => errors.push(error),
      history: history(),
    })
    cleanup.push(() => hub.close())
    const recorded = recordingEndpoint(endpoints[0]!)
    const receiver = createIrohSpokeEventTarget({
      endpoint: recorded.endpoint,
      hub: loopbackAddr(hubEndpoint),
      onError: (error) => errors.push(error),
      onStatus: (status) => statuses.push(status),
      reconnect: CUT,
    })
    const dispatcher = createIrohSpokeEventTarget({
      endpoint: endpoints[1]!,
      hub: loopbackAddr(hubEndpoint),
      onError: (error) => errors.push(error),
    })
    cleanup.push(
      () => receiver.close(),
      () => dispatcher.close(),
    )
    await Promise.all([receiver.ready, dispatcher.ready])
    await cutUnderStream({
      dispatcher,
      receiver,
      statuses,
      errors,
      interrupt: async () => {
        const disconnected = statuses.length
        recorded.latest()!.close(0n, [])
        await waitFor(() => statuses.slice(disconnected).some((status) => status.type === 'disconnected'), {
          timeoutMs: 5_000,
          message: 'the receiver noticed',
        })
      },
    })
  }, 15_000)
})

describe("yoga's createPubSub over a spoke of a hub with history", () => {
  it('a subscription reads on across a 1 s cut: every event the hub published meanwhile, in order, once', async () => {
    const statuses: EventwireStatus[] = []
    const running = await startHub({ history: history() })
    cleanup.push(() => running.close())
    const receiver = interruptibleClient(running.url, {
      onError: () => {},
      onStatus: (status) => statuses.push(status),
      reconnect: CUT,
    })
    cleanup.push(() => receiver.target.close())
    await receiver.target.ready
    // yoga's own pub/sub, as a GraphQL server's subscription resolvers use it, over our spoke.
    const pubsub = createYogaPubSub<{ tick: [number] }>({
      eventTarget: receiver.target,
    })
    const iterator = pubsub.subscribe('tick')[Symbol.asyncIterator]()
    const got: number[] = []
    const reading = (async () => {
      for (;;) {
        const next = await iterator.next()
        if (next.done) return
        got.push(next.value)
      }
    })()
    await receiver.target.flush()
    await running.hub.whenSubscribed('tick')
    for (let n = 1; n <= 100; n++) running.hub.dispatchEvent(new CustomEvent('tick', { detail: n }))
    await waitFor(() => got.length === 100, { timeoutMs: 5_000, message: 'the events before the cut' })

    const cutAt = Date.now()
    await receiver.interrupt()
    for (let n = 101; n <= 1_100; n++) running.hub.dispatchEvent(new CustomEvent('tick', { detail: n }))
    await waitFor(() => got.length === 1_100, { timeoutMs: 10_000, message: 'the events of the cut' })
    expect(Date.now() - cutAt).toBeGreaterThanOrEqual(1_000)
    for (let n = 1_101; n <= 1_200; n++) running.hub.dispatchEvent(new CustomEvent('tick', { detail: n }))
    await waitFor(() => got.length === 1_200, { timeoutMs: 5_000, message: 'the events after the cut' })
    await receiver.target.flush()
    expect(got).toEqual(Array.from({ length: 1_200 }, (_, i) => i + 1))
    expect(statuses).toContainEqual({ type: 'recovered', eventType: 'tick', count: 1_000 })
    expect(statuses.filter((status) => status.type === 'gap')).toEqual([])
    await iterator.return?.()
    await reading
  }, 15_000)
})
