import { DEFAULTS } from '../core/defaults.js'
import { EventwireError } from '../core/errors.js'
import { createNodeId } from '../core/link.js'
import { readPositiveInteger } from '../core/options.js'
import { reportUnhandled } from '../core/report.js'
import type { TypedEvent, TypedEventTarget } from '../core/types.js'

type AnyTarget = TypedEventTarget<TypedEvent> & { flush?: () => Promise<void> }

/** What travels as a request's detail. */
export interface RequestEnvelope<TPayload = unknown> {
  id: number
  /** The event type the answer goes to: unique per requesting target. */
  replyTo: string
  payload: TPayload
}

/** What travels as an answer's detail. */
export type ReplyEnvelope<TResult = unknown> =
  | { id: number; ok: true; value: TResult }
  | { id: number; ok: false; error: { code: string; message: string } }

export interface RequestOptions {
  /** Rejects with `ERR_TIMEOUT` when no answer arrives in time, in ms. @default 10_000 */
  timeoutMs?: number
  /** Aborting rejects with `ERR_ABORTED` (the reason as `cause`); a late answer is ignored. */
  signal?: AbortSignal
}

export interface RespondOptions {
  /** Receives malformed requests and answers that could not be sent. */
  onError?: (error: EventwireError) => void
}

interface Pending {
  resolve: (value: unknown) => void
  reject: (error: Error) => void
  cleanup: () => void
}

/**
 * One reply inbox per requesting target: a unique reply type, one listener, the pending requests. The
 * listener is attached while requests are pending and detached at the end of the task in which the last
 * one settled, so nothing is left behind between bursts and a sequential loop does not re-subscribe.
 */
class Inbox {
  readonly replyTo = `reply:${createNodeId()}`
  readonly pending = new Map<number, Pending>()
  #nextId = 1
  readonly #target: AnyTarget
  readonly #listener = (event: Event) => this.#answer((event as CustomEvent).detail)
  /** Resolves once the listener's interest has reached the network; undefined while detached. */
  #ready: Promise<void> | undefined
  #isReady = false
  #isDetachScheduled = false

  constructor(target: AnyTarget) {
    this.#target = target
  }

  nextId(): number {
    return this.#nextId++
  }

  /** Attaches the listener if needed; resolves at once when it is already known to the network. */
  attach(): Promise<void> | undefined {
    if (this.#ready === undefined) {
      this.#target.addEventListener(this.replyTo, this.#listener)
      const flushed = typeof this.#target.flush === 'function' ? this.#target.flush() : Promise.resolve()
      this.#ready = flushed.then(() => {
        this.#isReady = true
      })
    }
    return this.#isReady ? undefined : this.#ready
  }

  settle(id: number): void {
    this.pending.delete(id)
    if (this.pending.size > 0 || this.#isDetachScheduled) return
    this.#isDetachScheduled = true
    const timer = setTimeout(() => {
      this.#isDetachScheduled = false
      if (this.pending.size > 0 || this.#ready === undefined) return
      this.#target.removeEventListener(this.replyTo, this.#listener)
      this.#ready = undefined
      this.#isReady = false
    }, 0)
    ;(timer as { unref?: () => void }).unref?.()
  }

  #answer(detail: unknown): void {
    const reply = detail as {
      id?: unknown
      ok?: unknown
      value?: unknown
      error?: { code?: unknown; message?: unknown }
    } | null
    if (typeof reply !== 'object' || reply === null || typeof reply.id !== 'number') return
    const pending = this.pending.get(reply.id)
    if (pending === undefined) return // late, duplicate or for a cancelled request
    pending.cleanup()
    this.settle(reply.id)
    if (reply.ok === true) pending.resolve(reply.value)
    else pending.reject(remoteError(reply.error))
  }
}

const inboxes = new WeakMap<AnyTarget, Inbox>()

/**
 * Sends `payload` as a request on `type` and resolves with the first answer of a `respond`er anywhere in
 * the topology. Rejects with `ERR_TIMEOUT`, `ERR_ABORTED`, `ERR_REMOTE` (the responder threw; its code
 * and message are kept) or `ERR_CLOSED`.
 */
export async function request<TResult = unknown, TPayload = unknown>(
  target: AnyTarget,
  type: string,
  payload: TPayload,
  options: RequestOptions = {},
): Promise<TResult> {
  const timeoutMs = readPositiveInteger('timeoutMs', options.timeoutMs, DEFAULTS.requestTimeoutMs)
  const signal = options.signal
  if (signal?.aborted) throw abortError(signal)
  let inbox = inboxes.get(target)
  if (inbox === undefined) {
    inbox = new Inbox(target)
    inboxes.set(target, inbox)
  }
  const id = inbox.nextId()
  const current = inbox
  const answer = new Promise<TResult>((resolve, reject) => {
    const timer = setTimeout(() => {
      cleanup()
      current.settle(id)
      reject(
        new EventwireError('ERR_TIMEOUT', `no answer to "${type}" within ${timeoutMs} ms`, {
          eventType: type,
        }),
      )
    }, timeoutMs)
    const onAbort = () => {
      cleanup()
      current.settle(id)
      reject(abortError(signal!))
    }
    const cleanup = () => {
      clearTimeout(timer)
      signal?.removeEventListener('abort', onAbort)
    }
    signal?.addEventListener('abort', onAbort, { once: true })
    current.pending.set(id, { resolve: resolve as (value: unknown) => void, reject, cleanup })
  })
  try {
    const attaching = current.attach()
    if (attaching !== undefined) await attaching
  } catch (cause) {
    current.pending.get(id)?.cleanup()
    current.settle(id)
    throw cause instanceof EventwireError
      ? cause
      : new EventwireError('ERR_CONNECTION', 'request failed', { cause })
  }
  if (current.pending.has(id)) {
    const envelope: RequestEnvelope<TPayload> = { id, replyTo: current.replyTo, payload }
    try {
      target.dispatchEvent(new CustomEvent(type, { detail: envelope }) as unknown as TypedEvent)
    } catch (error) {
      current.pending.get(id)?.cleanup()
      current.settle(id)
      throw error
    }
  }
  return answer
}

/**
 * Answers requests on `type` with `handler(payload)` (sync or async). A handler that throws answers with
 * an error the requester receives as `ERR_REMOTE` (an `EventwireError` keeps its code). Returns a function
 * that stops answering and removes the listener.
 */
export function respond<TPayload = unknown, TResult = unknown>(
  target: AnyTarget,
  type: string,
  handler: (payload: TPayload) => TResult | Promise<TResult>,
  options: RespondOptions = {},
): () => void {
  if (typeof handler !== 'function')
    throw new EventwireError('ERR_INVALID_OPTION', 'respond: handler must be a function')
  const report = options.onError ?? reportUnhandled
  const reply = (replyTo: string, envelope: ReplyEnvelope) => {
    try {
      target.dispatchEvent(new CustomEvent(replyTo, { detail: envelope }) as unknown as TypedEvent)
    } catch (cause) {
      if (!envelope.ok)
        return report(new EventwireError('ERR_SERIALIZE', 'an error answer could not be sent', { cause }))
      // The value itself could not travel: tell the requester instead of leaving it to time out.
      reply(replyTo, {
        id: envelope.id,
        ok: false,
        error: { code: 'ERR_SERIALIZE', message: 'the answer could not be serialized' },
      })
    }
  }
  const listener = (event: Event) => {
    const detail = (event as CustomEvent).detail as Partial<RequestEnvelope<TPayload>> | null
    if (
      typeof detail !== 'object' ||
      detail === null ||
      typeof detail.id !== 'number' ||
      typeof detail.replyTo !== 'string'
    ) {
      report(
        new EventwireError('ERR_FRAME_MALFORMED', `a request on "${type}" is not a request envelope`, {
          eventType: type,
        }),
      )
      return
    }
    const { id, replyTo } = detail
    let result: TResult | Promise<TResult>
    try {
      result = handler(detail.payload as TPayload)
    } catch (error) {
      reply(replyTo, { id, ok: false, error: describeError(error) })
      return
    }
    // A synchronous answer goes out at once; an asynchronous one when it settles.
    if (!(result instanceof Promise)) return reply(replyTo, { id, ok: true, value: result })
    result.then(
      (value) => reply(replyTo, { id, ok: true, value }),
      (error: unknown) => reply(replyTo, { id, ok: false, error: describeError(error) }),
    )
  }
  target.addEventListener(type, listener)
  return () => target.removeEventListener(type, listener)
}

/** What of a thrown value crosses the wire: a code and a message, never a stack trace. */
function describeError(error: unknown): { code: string; message: string } {
  if (error instanceof EventwireError) return { code: error.code, message: error.message }
  if (error instanceof Error) return { code: 'ERR_REMOTE', message: error.message }
  return { code: 'ERR_REMOTE', message: String(error) }
}

/**
 * Always `ERR_REMOTE`, so a remote failure is never mistaken for a local one (a remote `ERR_TIMEOUT` is
 * not this request timing out); the responder's own code is kept in the message and in `cause.code`.
 */
function remoteError(error: { code?: unknown; message?: unknown } | undefined): EventwireError {
  const code = typeof error?.code === 'string' ? error.code.slice(0, 64) : 'ERR_REMOTE'
  const message = typeof error?.message === 'string' ? error.message.slice(0, 1024) : 'the responder failed'
  return new EventwireError('ERR_REMOTE', `responder failed (${code}): ${message}`, { cause: { code } })
}

function abortError(signal: AbortSignal): EventwireError {
  return new EventwireError('ERR_ABORTED', 'the request was aborted', { cause: signal.reason })
}
