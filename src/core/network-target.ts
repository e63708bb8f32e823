import { RegistryEventTarget } from './event-target.js'
import { type LinkWriterOptions, unsendableEventError } from './link-writer.js'
import { readFunction } from './options.js'
import { assertEvent } from './registry.js'
import { createErrorSink, createStats, createStatusSink, type ErrorSink } from './report.js'
import { type DetailCheck, type EventsOptions, readValidation } from './schema.js'
import type { EventwireStats, EventwireStatus, NetworkEventTargetOptions, TypedEvent } from './types.js'

/**
 * The base of every target with options of its own (hubs, spokes, the Redis, BroadcastChannel and
 * in-process targets): it owns the counters behind `stats()` and the `onError` and `onStatus` sinks, read
 * and checked once here rather than in each target.
 */
export abstract class NetworkTargetBase<TEvent extends TypedEvent> extends RegistryEventTarget<TEvent> {
  /** The counters `stats()` reports; the sinks count errors here. */
  protected readonly counters: EventwireStats = createStats()
  protected readonly reportError: ErrorSink
  protected readonly reportStatus: (status: EventwireStatus) => void
  /**
   * @internal Checks what this node dispatches against its `events` declaration; undefined without one
   * (or with `validate.dispatched: false`), so a target without schemas pays one field read per dispatch.
   */
  readonly checkDispatched: DetailCheck | undefined
  /** @internal Checks what arrives from the network; undefined where nothing is checked. */
  readonly checkReceived: DetailCheck | undefined

  /** `receivedByDefault`: whether this kind of target checks what it receives unless told otherwise. */
  constructor(
    options: Pick<NetworkEventTargetOptions, 'onError' | 'onStatus'> & EventsOptions,
    receivedByDefault = false,
  ) {
    super()
    this.reportError = createErrorSink(readFunction('onError', options.onError), this.counters)
    this.reportStatus = createStatusSink(readFunction('onStatus', options.onStatus), this.reportError)
    const checks = readValidation(options, receivedByDefault)
    this.checkDispatched = checks.dispatched
    this.checkReceived = checks.received
  }

  /**
   * The start of every `dispatchEvent`: a real event; after `close()` refused (false, reported once);
   * checked against the declaration (an invalid detail throws `ERR_INVALID` here); counted. True: go on.
   */
  protected beginDispatch(event: TEvent, closed: boolean = this.isClosed): boolean {
    assertEvent(event)
    if (closed) return this.refuseClosed(event.type)
    if (this.checkDispatched !== undefined) this.validateDispatch(event.type, event.detail)
    this.counters.dispatched++
    return true
  }

  /**
   * Checks a detail about to be dispatched (call only when `checkDispatched` is set): an invalid one
   * throws `ERR_INVALID` here, before it is encoded, sent or delivered. A schema that answers
   * asynchronously cannot stop a synchronous `dispatchEvent`: its verdict is reported when it comes.
   */
  protected validateDispatch(type: string, detail: unknown): void {
    const invalid = this.checkDispatched!(type, detail)
    if (invalid === undefined) return
    if (!(invalid instanceof Promise)) throw invalid
    invalid.then((error) => {
      if (error !== undefined) this.reportError(error)
    })
  }

  /**
   * What a `LinkWriter` of this target reports, the same on every target: events its overflow policy
   * dropped are counted, and an event its link refused (a detail the platform cannot carry) is counted as
   * dropped rather than sent and reported.
   */
  protected writerReports(): Pick<LinkWriterOptions, 'onDrop' | 'onSendError'> {
    return {
      onDrop: (events) => {
        this.counters.dropped += events
      },
      onSendError: (cause, frame) => {
        this.counters.sent--
        this.counters.dropped++
        this.reportError(unsendableEventError(cause, frame))
      },
    }
  }
}
