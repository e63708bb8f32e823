/**
 * A conformance node whose target lives in a real worker thread.
 *
 * The conformance suite calls `addEventListener` and `dispatchEvent` on node objects in the test thread,
 * but a worker's target lives in another thread. `WorkerNode` is the test thread's stand-in for it:
 *
 * - It keeps its own listener registry, so `once`, `signal`, `handleEvent` and duplicate adds run on the
 *   proxy with their usual semantics (and a listener that throws is reported here, with its own error).
 * - When a type gains its first proxy listener, it tells the worker to add one forwarding listener for that
 *   type to the real target; when the type loses its last, to remove it (ref-counted, like any interest).
 *   The worker's target then subscribes over the transport under test as it would for an application.
 * - Each event the worker's forwarding listener receives is reported back, in order, and delivered to the
 *   proxy's listeners. Every remote delivery therefore genuinely crossed the worker transport.
 * - `dispatchEvent` delivers to the proxy's listeners synchronously (what a local dispatch promises) and
 *   has the worker dispatch the event on its real target, whose forwarding listener skips that one
 *   dispatch, since the proxy already delivered it.
 * - `flush()` and `close()` run the real target's `flush()` and `close()` in the worker.
 *
 * All of this travels on a control `MessageChannel` of its own, never on the transport under test. The
 * worker script (`worker-fixtures/node-worker.ts`) is bundled with esbuild into a temporary .mjs, because a
 * worker thread cannot load TypeScript.
 */

import { pathToFileURL } from 'node:url'
import { MessageChannel, type MessagePort, receiveMessageOnPort, Worker } from 'node:worker_threads'
import { EventwireError, type EventwireErrorCode } from '../../src/core/errors.js'
import { RegistryEventTarget } from '../../src/core/event-target.js'
import { assertEvent } from '../../src/core/registry.js'
import { createStats } from '../../src/core/report.js'
import type { EventwireStats, TypedEvent } from '../../src/core/types.js'
import type { ConformanceNode } from '../../src/testing/index.js'
import { bundleForNode } from './bundle.js'

/** What the worker is given at start (`workerData`). */
export interface WorkerSetup {
  control: MessagePort
  /** Which endpoint the worker's target uses: its parentPort, a transferred port, or a BroadcastChannel. */
  endpoint: 'parent' | 'port' | 'broadcast'
  port?: MessagePort
  channelName?: string
}

export type ControlCommand =
  | { op: 'open'; id: number }
  | { op: 'add'; type: string }
  | { op: 'remove'; type: string }
  | { op: 'dispatch'; type: string; detail: unknown }
  | { op: 'dispatch-uncloneable'; type: string }
  | { op: 'post-raw'; value: unknown }
  | { op: 'exit-after' | 'throw-after'; type: string; count: number }
  | { op: 'flush'; id: number }
  | { op: 'stats'; id: number }
  | { op: 'close'; id: number }

export type ControlReply =
  | { op: 'event'; type: string; detail: unknown }
  | {
      op: 'error'
      code: EventwireErrorCode
      message: string
      eventType: string | undefined
      cause: string | undefined
    }
  | { op: 'done'; id: number; value?: unknown; error?: string }

export interface WorkerNodeOptions {
  endpoint: WorkerSetup['endpoint']
  /** The port the worker's target uses when `endpoint` is `'port'` (transferred to the worker). */
  port?: MessagePort
  /** The channel name when `endpoint` is `'broadcast'`. */
  channelName?: string
  /** Receives the worker target's errors and the proxy's listener errors. */
  onError?: (error: EventwireError) => void
}

let script: Promise<string> | undefined

/** Bundles the worker script once per process (see bundleForNode). */
function workerScript(): Promise<string> {
  script ??= bundleForNode(new URL('./worker-fixtures/node-worker.ts', import.meta.url), 'node-worker')
  return script
}

export class WorkerNode extends RegistryEventTarget<TypedEvent> implements ConformanceNode {
  /** The real worker thread; hand it to the main side (`createWorkerEventTarget`, `hub.add`). */
  readonly worker: Worker
  readonly #control: MessagePort
  readonly #onError: ((error: EventwireError) => void) | undefined
  readonly #stats = createStats()
  readonly #pending = new Map<number, { resolve: (value: unknown) => void; reject: (error: Error) => void }>()
  #nextId = 0
  #exitCode: number | undefined
  readonly exited: Promise<number>

  protected readonly reportError = (error: EventwireError) => {
    this.#stats.errors++
    this.#onError?.(error)
  }

  /** Starts the worker; its target is created by `open()`, after the main side is attached. */
  static async start(options: WorkerNodeOptions): Promise<WorkerNode> {
    return new WorkerNode(await workerScript(), options)
  }

  private constructor(file: string, options: WorkerNodeOptions) {
    super()
    this.#onError = options.onError
    const { port1, port2 } = new MessageChannel()
    this.#control = port1
    const setup: WorkerSetup = {
      control: port2,
      endpoint: options.endpoint,
      ...(options.port === undefined ? {} : { port: options.port }),
      ...(options.channelName === undefined ? {} : { channelName: options.channelName }),
    }
    const transfer = options.port === undefined ? [port2] : [port2, options.port]
    this.worker = new Worker(pathToFileURL(file), { workerData: setup, transferList: transfer })
    this.exited = new Promise((resolve) => {
      this.worker.once('exit', (code) => {
        // What the worker reported just before it ended may still wait in the control port: read it
        // before closing the port, or those deliveries would be lost to a race with this event.
        for (
          let left = receiveMessageOnPort(this.#control);
          left;
          left = receiveMessageOnPort(this.#control)
        ) {
          this.#reply(left.message as ControlReply)
        }
        this.#exitCode = code
        const gone = new EventwireError('ERR_CLOSED', `the worker exited with code ${code}`)
        for (const waiter of this.#pending.values()) waiter.reject(gone)
        this.#pending.clear()
        this.#control.close()
        resolve(code)
      })
    })
    this.#control.on('message', (reply: ControlReply) => this.#reply(reply))
  }

  /** Creates the worker's target and resolves once its `ready` has. */
  async open(): Promise<void> {
    await this.#request({ op: 'open', id: 0 })
  }

  dispatchEvent(event: TypedEvent): boolean {
    assertEvent(event)
    this.#stats.dispatched++
    this.#post({ op: 'dispatch', type: event.type, detail: event.detail })
    this.#stats.delivered += this.registry.deliver(event)
    return !event.defaultPrevented
  }

  async flush(): Promise<void> {
    await this.#request({ op: 'flush', id: 0 })
  }

  /** The proxy's counters: dispatches here and deliveries to the proxy's listeners. */
  stats(): EventwireStats {
    return { ...this.#stats, subscriptions: this.registry.types().length }
  }

  /** The real target's counters, read in the worker. */
  async remoteStats(): Promise<EventwireStats> {
    return (await this.#request({ op: 'stats', id: 0 })) as EventwireStats
  }

  /** The worker dispatches three events of `type` in one task, the middle one with a function detail. */
  dispatchUncloneable(type: string): void {
    this.#post({ op: 'dispatch-uncloneable', type })
  }

  /** The worker posts `value` on its parentPort, beside the transport's frames. */
  postRaw(value: unknown): void {
    this.#post({ op: 'post-raw', value })
  }

  /** The worker calls `process.exit(3)` from a listener once it has received `count` events of `type`. */
  exitAfter(type: string, count: number): void {
    this.#post({ op: 'exit-after', type, count })
  }

  /** The worker throws an uncaught error once it has received `count` events of `type`. */
  throwAfter(type: string, count: number): void {
    this.#post({ op: 'throw-after', type, count })
  }

  /** Closes the worker's target (if the worker still runs), then terminates the worker. */
  async close(): Promise<void> {
    if (this.isClosed) return
    this.isClosed = true
    if (this.#exitCode === undefined) {
      await this.#request({ op: 'close', id: 0 }).catch(() => {})
      await this.worker.terminate()
    }
    await this.exited
    this.registry.clear()
  }

  protected override interestChanged(type: string, isInterested: boolean): void {
    this.#post({ op: isInterested ? 'add' : 'remove', type })
  }

  #post(command: ControlCommand): void {
    if (this.#exitCode === undefined) this.#control.postMessage(command)
  }

  #request(command: ControlCommand & { id: number }): Promise<unknown> {
    if (this.#exitCode !== undefined) {
      return Promise.reject(new EventwireError('ERR_CLOSED', `the worker exited with code ${this.#exitCode}`))
    }
    const id = ++this.#nextId
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject })
      this.#control.postMessage({ ...command, id })
    })
  }

  #reply(reply: ControlReply): void {
    switch (reply.op) {
      case 'event':
        if (this.registry.has(reply.type)) {
          this.#stats.received++
          this.#stats.delivered += this.registry.deliver(
            new CustomEvent(reply.type, { detail: reply.detail }),
          )
        }
        return
      case 'error':
        this.reportError(
          new EventwireError(reply.code, reply.message, {
            eventType: reply.eventType,
            cause: reply.cause === undefined ? undefined : new Error(reply.cause),
          }),
        )
        return
      case 'done': {
        const waiter = this.#pending.get(reply.id)
        this.#pending.delete(reply.id)
        if (reply.error === undefined) waiter?.resolve(reply.value)
        else waiter?.reject(new Error(reply.error))
        return
      }
    }
  }
}
