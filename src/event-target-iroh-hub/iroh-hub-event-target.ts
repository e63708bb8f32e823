import type { Connection, Endpoint, Incoming } from '@number0/iroh'
import { DEFAULTS } from '../core/defaults.js'
import { EventwireError, invalidOption } from '../core/errors.js'
import { Hub, type HubOptions, type WhenSubscribedOptions } from '../core/hub.js'
import {
  createLengthPrefixedLink,
  type LengthPrefixedLink,
  MAX_LENGTH_PREFIXED_PAYLOAD,
} from '../core/length-prefixed.js'
import { CLOSE_GOING_AWAY, CLOSE_POLICY_VIOLATION, CLOSE_PROTOCOL_ERROR } from '../core/link.js'
import { readFunction, readLimitsWithOldNames, readOptionsObject } from '../core/options.js'
import type { EventwireStats, NetworkEventTarget, TypedEvent, TypedEventTarget } from '../core/types.js'
import {
  alpnBytes,
  closeConnection,
  compress,
  createIrohByteStream,
  decompress,
  describeClose,
} from '../iroh-shared/iroh-stream.js'

/** The ALPN hub and spokes speak unless told otherwise; the version is the frame protocol's. */
export const IROH_ALPN = 'eventwire/1'

/**
 * Options of the iroh hub. A spoke's principal is what `authenticate` returns for its endpoint id (a
 * string, proven by the QUIC handshake), or the endpoint id itself: `authorize`, `onConnection` and
 * `onDisconnection` see it typed as `TPrincipal`.
 */
export interface IrohHubEventTargetOptions<TPrincipal = string, TEvent extends TypedEvent = TypedEvent>
  extends Omit<HubOptions<string, TPrincipal, TEvent>, 'codec'> {
  /**
   * The endpoint whose incoming connections the hub accepts. Build it with `alpn` among its ALPNs, or
   * spokes fail their handshake. Omit it when your own accept loop serves several protocols on one
   * endpoint and hands this one's connections to `add`. The endpoint stays yours: `close()`
   * leaves it open.
   */
  endpoint?: Endpoint
  /** The protocol name spokes dial with. @default 'eventwire/1' */
  alpn?: string
  /**
   * Largest frame a spoke may send, in bytes (compressed frames are also bounded after inflating). A
   * longer length prefix closes that spoke's connection with 1009 before anything is allocated for it.
   * @deprecated Use `limits.maxFrameBytes`, as on every target (the same meaning).
   */
  maxFrameBytes?: number
  /**
   * Runs once per connection with the spoke's endpoint id (its public key, proven by the QUIC handshake),
   * before anything is read. The same contract as on every hub: return the principal (any value but
   * `null`, `undefined` and `false`), or `true` to admit with the endpoint id as the principal. Returning
   * `null`, `undefined` or `false`, or throwing, closes the connection with 1008. Per-type decisions
   * belong in `authorize`, which sees the principal.
   * @default every endpoint admitted, its endpoint id as the principal
   */
  authenticate?: (
    endpointId: string,
  ) => TPrincipal | boolean | null | undefined | Promise<TPrincipal | boolean | null | undefined>
  /**
   * Compress frames of 512 bytes or more (deflate-raw) before they cross the binding, when that makes them
   * smaller. Spokes inflate whatever arrives compressed, whatever their own setting.
   * @default true
   */
  compress?: boolean
}

/** The hub: a target of its own that routes events among the spokes connected to its endpoint. */
export interface IrohHubEventTarget<TEvent extends TypedEvent = TypedEvent>
  extends NetworkEventTarget<TEvent> {
  readonly nodeId: string
  /**
   * Adds a connection your own accept loop took (its ALPN must be `alpn`). Every hub hands a connection
   * over with `add`.
   */
  add(connection: Connection): void
  /** @deprecated Use `add`, the verb of every hub. */
  handleConnection(connection: Connection): void
  /** One spoke as a target: dispatch to it alone, hear what it publishes. @see Hub.connectionTarget */
  connectionTarget(id: string): TypedEventTarget<TEvent> | undefined
  /** The types some spoke currently subscribes to. */
  remoteTypes(): string[]
  /**
   * Resolves once at least `count` spokes subscribe to `type` (at once if they already do): dispatch
   * after it and they all receive the event. Rejects with `ERR_TIMEOUT` after `timeoutMs`, and with
   * `ERR_CLOSED` when the hub closes first.
   */
  whenSubscribed(type: string, options?: WhenSubscribedOptions): Promise<void>
}

/** A connection that opens no stream within this time is closed. */
const STREAM_TIMEOUT_MS = 10_000

export function createIrohHubEventTarget<TEvent extends TypedEvent = TypedEvent, TPrincipal = string>(
  options: IrohHubEventTargetOptions<TPrincipal, TEvent>,
): IrohHubEventTarget<TEvent> {
  return new IrohHub<TEvent, TPrincipal>(options)
}

class IrohHub<TEvent extends TypedEvent, TPrincipal>
  extends Hub<TEvent, string, TPrincipal>
  implements IrohHubEventTarget<TEvent>
{
  readonly #alpn: string
  readonly #maxFrameBytes: number
  readonly #authenticate: IrohHubEventTargetOptions<TPrincipal>['authenticate']
  readonly #isCompressing: boolean
  readonly #links = new Set<LengthPrefixedLink>()
  /** Connections still in their handshake (ALPN, authenticate, stream). */
  readonly #opening = new Set<Connection>()
  /** Frames refused at the stream layer (the Hub counts the rest). */
  #envelopeDrops = 0

  constructor(options: IrohHubEventTargetOptions<TPrincipal, TEvent>) {
    const opts = readOptionsObject(options, 'createIrohHubEventTarget')
    const limits = readLimitsWithOldNames(opts.limits, {
      maxFrameBytes: { name: 'maxFrameBytes', value: opts.maxFrameBytes },
    })
    const { maxFrameBytes } = limits
    if (maxFrameBytes > MAX_LENGTH_PREFIXED_PAYLOAD) {
      invalidOption('limits.maxFrameBytes', `at most ${MAX_LENGTH_PREFIXED_PAYLOAD}`, maxFrameBytes)
    }
    super({
      ...opts,
      idleTimeoutMs: opts.idleTimeoutMs ?? DEFAULTS.networkIdleTimeoutMs,
      limits,
    })
    this.#maxFrameBytes = maxFrameBytes
    this.#alpn = readAlpn(opts.alpn)
    this.#authenticate = readFunction('authenticate', opts.authenticate)
    this.#isCompressing = opts.compress ?? true
    const endpoint = opts.endpoint
    if (endpoint !== undefined) {
      if (typeof (endpoint as { acceptNext?: unknown }).acceptNext !== 'function') {
        invalidOption('endpoint', 'an iroh Endpoint', endpoint)
      }
      void this.#acceptLoop(endpoint)
    }
  }

  add(connection: Connection): void {
    void this.#serve(connection)
  }

  handleConnection(connection: Connection): void {
    this.add(connection)
  }

  override async close(): Promise<void> {
    const links = [...this.#links]
    await super.close()
    for (const connection of this.#opening) closeConnection(connection, CLOSE_GOING_AWAY, 'hub closed')
    // Each link lets its last frames reach the spoke (bounded), then closes its connection.
    await Promise.all(links.map((link) => link.closed))
  }

  override stats(): EventwireStats {
    const stats = super.stats()
    stats.dropped += this.#envelopeDrops
    return stats
  }

  async #acceptLoop(endpoint: Endpoint): Promise<void> {
    for (;;) {
      let incoming: Incoming | null
      try {
        incoming = await endpoint.acceptNext()
      } catch (cause) {
        if (!this.isClosed) {
          this.reportError(new EventwireError('ERR_CONNECTION', 'the endpoint stopped accepting', { cause }))
        }
        return
      }
      // null: the endpoint closed. A connection that arrives after close() is refused: the hub is gone.
      if (incoming === null) return
      if (this.isClosed) {
        incoming.refuse().catch(() => {})
        return
      }
      void this.#handshake(incoming)
    }
  }

  async #handshake(incoming: Incoming): Promise<void> {
    let connection: Connection
    try {
      connection = await (await incoming.accept()).connect()
    } catch (cause) {
      this.reportError(
        new EventwireError('ERR_CONNECTION', 'an incoming connection failed its handshake', { cause }),
      )
      return
    }
    await this.#serve(connection)
  }

  async #serve(connection: Connection): Promise<void> {
    if (this.isClosed) {
      closeConnection(connection, CLOSE_GOING_AWAY, 'hub closed')
      return
    }
    this.#opening.add(connection)
    try {
      const alpn = new TextDecoder().decode(new Uint8Array(connection.alpn()))
      if (alpn !== this.#alpn) {
        closeConnection(connection, CLOSE_PROTOCOL_ERROR, 'unsupported protocol')
        this.reportError(
          new EventwireError('ERR_CONNECTION', `a connection for "${alpn}", not "${this.#alpn}"`),
        )
        return
      }
      const endpointId = connection.remoteId().toString()
      const admitted = await this.#admit(endpointId)
      if (admitted === undefined) {
        closeConnection(connection, CLOSE_POLICY_VIOLATION, 'unauthorized')
        return
      }
      const stream = await withTimeout(connection.acceptBi(), STREAM_TIMEOUT_MS, 'no stream opened')
      if (this.isClosed) {
        closeConnection(connection, CLOSE_GOING_AWAY, 'hub closed')
        return
      }
      const link = createLengthPrefixedLink(createIrohByteStream(connection, stream), {
        maxFrameBytes: this.#maxFrameBytes,
        compress: this.#isCompressing ? compress : undefined,
        decompress,
        onInvalid: (error) => {
          this.#envelopeDrops++
          this.reportError(error)
        },
      })
      this.#links.add(link)
      void link.closed.then(() => this.#links.delete(link))
      link.start(this.accept(link, { principal: admitted.principal }))
    } catch (cause) {
      closeConnection(connection, CLOSE_PROTOCOL_ERROR, 'no stream')
      // A spoke that closes before its stream opens (an abandoned dial) is no error; a silent one is.
      if (!this.isClosed && describeClose(cause).code === undefined) {
        this.reportError(
          new EventwireError('ERR_CONNECTION', 'a connection ended before its stream opened', { cause }),
        )
      }
    } finally {
      this.#opening.delete(connection)
    }
  }

  /** The principal `authenticate` admits the endpoint with, or undefined when it refuses. */
  async #admit(endpointId: string): Promise<{ principal: TPrincipal } | undefined> {
    // Without `authenticate`, or when it answers `true`, the endpoint id is the principal.
    const byId = { principal: endpointId as TPrincipal }
    if (this.#authenticate === undefined) return byId
    try {
      const answer = await this.#authenticate(endpointId)
      if (answer === true) return byId
      if (answer === false || answer === null || answer === undefined) return undefined
      return { principal: answer }
    } catch (cause) {
      this.reportError(new EventwireError('ERR_UNAUTHORIZED', 'authenticate refused a connection', { cause }))
      return undefined
    }
  }
}

function readAlpn(value: unknown): string {
  if (value === undefined) return IROH_ALPN
  if (typeof value !== 'string' || value.length === 0 || alpnBytes(value).length > 255) {
    invalidOption('alpn', 'a string of 1 to 255 bytes', value)
  }
  return value
}

function withTimeout<T>(promise: Promise<T>, timeoutMs: number, message: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined
  // The binding's promise cannot be cancelled: if it loses the race, its late rejection is expected.
  promise.catch(() => {})
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new EventwireError('ERR_TIMEOUT', message)), timeoutMs)
    ;(timer as { unref?: () => void }).unref?.()
  })
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer))
}
