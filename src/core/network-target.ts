import { RegistryEventTarget } from './event-target.js'
import { type LinkWriterOptions, unsendableEventError } from './link-writer.js'
import { readFunction } from './options.js'
import { createErrorSink, createStats, createStatusSink, type ErrorSink } from './report.js'
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

  constructor(options: Pick<NetworkEventTargetOptions, 'onError' | 'onStatus'>) {
    super()
    this.reportError = createErrorSink(readFunction('onError', options.onError), this.counters)
    this.reportStatus = createStatusSink(readFunction('onStatus', options.onStatus), this.reportError)
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
