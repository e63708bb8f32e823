import { type Connection, type Endpoint, EndpointAddr, EndpointId, EndpointTicket } from '@number0/iroh'
import { DEFAULTS } from '../core/defaults.js'
import { EventwireError, invalidOption } from '../core/errors.js'
import {
  createLengthPrefixedLink,
  type LengthPrefixedLink,
  type LengthPrefixedLinkOptions,
  MAX_LENGTH_PREFIXED_PAYLOAD,
} from '../core/length-prefixed.js'
import { CLOSE_NORMAL } from '../core/link.js'
import { readLimitsWithOldNames, readOptionsObject, readPositiveInteger } from '../core/options.js'
import { Spoke, type SpokeConnector, type SpokeOptions } from '../core/spoke.js'
import type { EventwireStats, NetworkEventTarget, TypedEvent } from '../core/types.js'
import {
  alpnBytes,
  closeConnection,
  compress,
  createIrohByteStream,
  decompress,
} from '../iroh-shared/iroh-stream.js'

/** The ALPN hub and spokes speak unless told otherwise; the version is the frame protocol's. */
export const IROH_ALPN = 'eventwire/1'

export interface IrohSpokeEventTargetOptions<TEvent extends TypedEvent = TypedEvent>
  extends Omit<SpokeOptions<string, TEvent>, 'connect' | 'codec' | 'peer'> {
  /** The endpoint to dial from; it may serve other spokes and protocols. `close()` leaves it open. */
  endpoint: Endpoint
  /**
   * The hub to dial: an `EndpointAddr` (its id plus direct addresses or a relay URL), an `EndpointId`, or
   * a string holding an endpoint ticket or an endpoint id. An id alone needs an endpoint with discovery
   * (the n0 preset) to find the hub's address.
   */
  hub: EndpointAddr | EndpointId | string
  /** The protocol name the hub accepts. @default 'eventwire/1' */
  alpn?: string
  /**
   * Largest frame the hub may send, in bytes (compressed frames are also bounded after inflating). A longer
   * length prefix closes the connection (and the spoke reconnects).
   * @deprecated Use `limits.maxFrameBytes`, as on every target (the same meaning).
   */
  maxFrameBytes?: number
  /**
   * How long one dial may take, in ms, before it counts as failed and the spoke backs off and retries. QUIC
   * itself gives up on an unreachable hub only after about 30 s.
   * @default 10_000
   */
  connectTimeoutMs?: number
  /**
   * Compress frames of 512 bytes or more (deflate-raw) before they cross the binding, when that makes them
   * smaller. The hub inflates whatever arrives compressed, whatever its own setting.
   * @default true
   */
  compress?: boolean
}

/** A spoke: local listeners plus one QUIC stream to the hub, reconnected with backoff. */
export interface IrohSpokeEventTarget<TEvent extends TypedEvent = TypedEvent>
  extends NetworkEventTarget<TEvent> {
  readonly nodeId: string
}

export function createIrohSpokeEventTarget<TEvent extends TypedEvent = TypedEvent>(
  options: IrohSpokeEventTargetOptions<TEvent>,
): IrohSpokeEventTarget<TEvent> {
  return new IrohSpoke<TEvent>(options)
}

class IrohSpoke<TEvent extends TypedEvent> extends Spoke<TEvent> implements IrohSpokeEventTarget<TEvent> {
  /** Frames refused at the stream layer (the Spoke counts the rest). */
  #envelopeDrops = 0
  readonly #links: Set<LengthPrefixedLink>

  constructor(options: IrohSpokeEventTargetOptions<TEvent>) {
    const opts = readOptionsObject(options, 'createIrohSpokeEventTarget')
    const endpoint = opts.endpoint
    if (typeof (endpoint as { connect?: unknown } | undefined)?.connect !== 'function') {
      invalidOption('endpoint', 'an iroh Endpoint', endpoint)
    }
    const limits = readLimitsWithOldNames(opts.limits, {
      maxFrameBytes: { name: 'maxFrameBytes', value: opts.maxFrameBytes },
    })
    const { maxFrameBytes } = limits
    if (maxFrameBytes > MAX_LENGTH_PREFIXED_PAYLOAD) {
      invalidOption('limits.maxFrameBytes', `at most ${MAX_LENGTH_PREFIXED_PAYLOAD}`, maxFrameBytes)
    }
    const alpn = opts.alpn ?? IROH_ALPN
    if (typeof alpn !== 'string' || alpn.length === 0 || alpnBytes(alpn).length > 255) {
      invalidOption('alpn', 'a string of 1 to 255 bytes', alpn)
    }
    const links = new Set<LengthPrefixedLink>()
    const connect = createConnector({
      links,
      endpoint: endpoint as Endpoint,
      hub: readHub(opts.hub),
      alpn: alpnBytes(alpn),
      connectTimeoutMs: readPositiveInteger(
        'connectTimeoutMs',
        opts.connectTimeoutMs,
        DEFAULTS.connectTimeoutMs,
      ),
      link: {
        maxFrameBytes,
        compress: (opts.compress ?? true) ? compress : undefined,
        decompress,
        onInvalid: (error) => this.#envelopeInvalid(error),
      },
    })
    // The link reports refused envelopes to this spoke, which exists once `super` returns: it starts after.
    super({ ...opts, limits, connect, start: false })
    this.#links = links
    this.start()
  }

  #envelopeInvalid(error: EventwireError): void {
    this.#envelopeDrops++
    this.reportLinkError(error)
  }

  /** Closes the link, and resolves once the hub has the last frames (or after 2 s) and the connection is closed. */
  override async close(): Promise<void> {
    await super.close()
    await Promise.all([...this.#links].map((link) => link.closed))
  }

  override stats(): EventwireStats {
    const stats = super.stats()
    stats.dropped += this.#envelopeDrops
    return stats
  }
}

interface ConnectorOptions {
  /** Links not yet closed, so that `close()` can wait for them. */
  links: Set<LengthPrefixedLink>
  endpoint: Endpoint
  hub: EndpointAddr
  alpn: number[]
  connectTimeoutMs: number
  link: LengthPrefixedLinkOptions
}

/** Dials the hub, opens the one stream, and wraps it as a link; the Spoke calls it for every (re)connect. */
function createConnector(options: ConnectorOptions): SpokeConnector {
  return async (handlers, signal) => {
    const connection = await dial(options, signal)
    let stream: Awaited<ReturnType<Connection['openBi']>>
    try {
      stream = await connection.openBi()
    } catch (cause) {
      closeConnection(connection, CLOSE_NORMAL, 'no stream')
      throw new EventwireError('ERR_CONNECTION', 'could not open a stream to the hub', { cause })
    }
    const link = createLengthPrefixedLink(createIrohByteStream(connection, stream), options.link)
    options.links.add(link)
    void link.closed.then(() => options.links.delete(link))
    link.start(handlers)
    return link
  }
}

/** `endpoint.connect`, bounded by `connectTimeoutMs` and the abort signal; a late connection is closed. */
function dial(options: ConnectorOptions, signal: AbortSignal): Promise<Connection> {
  return new Promise((resolve, reject) => {
    let isSettled = false
    const settle = (error?: EventwireError, connection?: Connection) => {
      if (isSettled) {
        if (connection !== undefined) closeConnection(connection, CLOSE_NORMAL, 'abandoned')
        return
      }
      isSettled = true
      clearTimeout(timer)
      signal.removeEventListener('abort', onAbort)
      if (error !== undefined) reject(error)
      else resolve(connection!)
    }
    const onAbort = () => settle(new EventwireError('ERR_CLOSED', 'the spoke closed while dialing'))
    const timer = setTimeout(
      () =>
        settle(
          new EventwireError('ERR_TIMEOUT', `no connection to the hub within ${options.connectTimeoutMs} ms`),
        ),
      options.connectTimeoutMs,
    )
    ;(timer as { unref?: () => void }).unref?.()
    if (signal.aborted) return onAbort()
    signal.addEventListener('abort', onAbort)
    options.endpoint.connect(options.hub, options.alpn).then(
      (connection) => settle(undefined, connection),
      (cause: unknown) =>
        settle(
          new EventwireError('ERR_CONNECTION', `could not reach the hub: ${firstLine(cause)}`, { cause }),
        ),
    )
  })
}

function readHub(value: unknown): EndpointAddr {
  if (value instanceof EndpointAddr) return value
  if (value instanceof EndpointId) return new EndpointAddr(value)
  if (typeof value === 'string') {
    try {
      if (value.startsWith('endpoint')) return EndpointTicket.fromString(value).endpointAddr()
      return new EndpointAddr(EndpointId.fromString(value))
    } catch {
      // Reported below, naming the option.
    }
  }
  return invalidOption('hub', 'an EndpointAddr, an EndpointId, or an endpoint ticket or id string', value)
}

function firstLine(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error)
  const end = message.indexOf('\n')
  return end === -1 ? message : message.slice(0, end)
}
