import { type CloneFrame, createCloneCodec, type FrameCodec } from '../core/codec.js'
import { EventwireError } from '../core/errors.js'
import { wireEventType } from '../core/frame.js'
import { eventHops, eventId, isFirstSight, withHops } from '../core/hops.js'
import { createNodeId } from '../core/link.js'
import { LinkWriter } from '../core/link-writer.js'
import { NetworkTargetBase } from '../core/network-target.js'
import { readLimits } from '../core/options.js'
import type { EventwireStats, TypedEvent } from '../core/types.js'
import type { WorkerEventTarget, WorkerEventTargetOptions } from './worker-event-target.js'

/** The link writer's bound; a channel has no send buffer, so it only caps one task's burst. */
const MAX_QUEUED_BYTES = 8 * 1024 * 1024

export function createBroadcastEventTarget<TEvent extends TypedEvent>(
  channel: BroadcastChannel,
  opts: Partial<WorkerEventTargetOptions<TEvent>>,
): WorkerEventTarget<TEvent> {
  return new BroadcastTarget<TEvent>(channel, opts)
}

/**
 * One of N equal peers on a `BroadcastChannel`. There is no hub and no membership (a channel never says
 * who joined or left), so there is no interest routing: every node posts every event it dispatches,
 * batched per task as one clone frame that carries its origin, and each receiver delivers the types it
 * listens to and skips its own origin. Nothing needs a handshake, so `ready` is resolved at once and
 * `flush()` only waits for this node's queue to be posted and one macrotask to pass.
 */
class BroadcastTarget<TEvent extends TypedEvent>
  extends NetworkTargetBase<TEvent>
  implements WorkerEventTarget<TEvent>
{
  readonly nodeId: string
  readonly ready: Promise<void> = Promise.resolve()
  readonly #channel: BroadcastChannel
  readonly #codec: FrameCodec<CloneFrame>
  readonly #writer: LinkWriter<CloneFrame>
  readonly #onMessage = (event: MessageEvent) => this.#receive(event.data)
  readonly #onMessageError = (event: MessageEvent) => {
    this.counters.dropped++
    this.reportError(
      new EventwireError('ERR_SERIALIZE', 'a message on the channel could not be deserialized', {
        cause: event.data,
      }),
    )
  }

  constructor(channel: BroadcastChannel, opts: Partial<WorkerEventTargetOptions<TEvent>>) {
    super(opts)
    this.nodeId = opts.nodeId ?? createNodeId()
    this.#codec = createCloneCodec(readLimits(opts.limits))
    this.#channel = channel
    const link = {
      send: (message: CloneFrame) => {
        if (!this.isClosed) channel.postMessage(message)
      },
      close: () => {},
    }
    this.#writer = new LinkWriter(link, this.#codec, {
      maxBufferedBytes: MAX_QUEUED_BYTES,
      overflow: 'drop-oldest',
      ...this.writerReports(),
      onOverflowClose: () => {},
    })
    channel.addEventListener('message', this.#onMessage)
    channel.addEventListener('messageerror', this.#onMessageError)
    this.counters.connections = 1
    this.reportStatus({ type: 'connected' })
  }

  /** Delivers to local listeners synchronously and posts the event on the channel for everyone else. */
  dispatchEvent(event: TEvent): boolean {
    // A channel has no hub to check what arrives: each node checks what it posts (in beginDispatch).
    if (!this.beginDispatch(event)) return false
    const type = this.eventType(event.type)
    if (
      this.#writer.writeEvent(
        this.#codec.event(type, this.nodeId, event.detail, eventHops(event), eventId(event)),
      )
    ) {
      this.counters.sent++
    }
    this.counters.delivered += this.registry.deliver(event)
    return !event.defaultPrevented
  }

  /** Posts what this node queued, then resolves after one macrotask. */
  flush(): Promise<void> {
    if (this.isClosed) return Promise.reject(new EventwireError('ERR_CLOSED', 'the target is closed'))
    this.#writer.flush()
    return new Promise((resolve) => setTimeout(resolve, 0))
  }

  async close(): Promise<void> {
    if (this.isClosed) return
    this.#writer.flush()
    this.isClosed = true
    this.#writer.dispose()
    this.#channel.removeEventListener('message', this.#onMessage)
    this.#channel.removeEventListener('messageerror', this.#onMessageError)
    this.registry.clear()
    this.counters.connections = 0
    this.reportStatus({ type: 'closed' })
  }

  stats(): EventwireStats {
    return { ...this.counters, subscriptions: this.registry.types().length }
  }

  #receive(data: unknown): void {
    if (this.isClosed) return
    const result = this.#codec.decode(data)
    if (!result.ok) {
      this.counters.dropped++
      this.reportError(result.error)
      return
    }
    for (const frame of result.frames) {
      if (frame.kind !== 'event') {
        this.counters.dropped++
        this.reportError(
          new EventwireError('ERR_FRAME_MALFORMED', `a ${frame.kind} frame has no meaning on a channel`),
        )
        continue
      }
      // A channel never delivers to the object that posted; this guards a node that joined the channel
      // through two objects under one nodeId.
      if (frame.origin === this.nodeId) continue
      this.counters.received++
      if (this.registry.has(frame.type)) {
        if (!isFirstSight(this, frame.id)) continue
        const received = withHops(new CustomEvent(frame.type, { detail: frame.detail }), frame.hops, frame.id)
        this.counters.delivered += this.registry.deliver(received)
      }
      if (this.isClosed) return
    }
  }

  protected override eventType(type: unknown): string {
    return wireEventType(type, this.#codec.limits)
  }
}
