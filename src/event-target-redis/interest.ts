import { EventwireError } from '../core/errors.js'
import type { ListenerRegistry } from '../core/registry.js'
import type { ErrorSink } from '../core/report.js'
import { type RedisClient, whenReady } from './client.js'
import type { ClusterSubscribeLinks } from './cluster.js'

/**
 * Which channels the Redis target is subscribed to, kept in step with its listeners. It exists because
 * a subscription cannot simply follow interest: ioredis puts a connection in subscriber mode when
 * SUBSCRIBE is queued, and its ready check (INFO) then fails and drops the connection. So interest waits
 * until the subscribe client is ready; a type whose interest ended meanwhile is unsubscribed then (if the
 * connection had it), and every live type is subscribed again each time the client is ready again, after
 * a reconnect too. On a Cluster the target's own connections (`ClusterSubscribeLinks`) do all of this,
 * and this class only hands them the channels.
 */

/** What the interest side shares with its target. */
export interface InterestHost {
  readonly registry: ListenerRegistry
  readonly reportError: ErrorSink
  isClosed(): boolean
  /** Makes `promise` part of what `flush()` waits for. */
  track(promise: Promise<unknown>): void
}

export class RedisInterest {
  readonly #host: InterestHost
  readonly #client: RedisClient
  /** On a Cluster: the target's own connections to the masters, which subscribe instead of the client. */
  #links: ClusterSubscribeLinks | undefined
  readonly #prefix: string
  readonly #isSharded: boolean
  /** The subscribe client is ready: interest goes to Redis at once. */
  #isClientReady: boolean
  #whenClientReady: Promise<void> | undefined
  /** Types subscribed on the current connection, so a removal while it is down can be sent later. */
  readonly #subscribed = new Set<string>()
  readonly #leaveWhenReady = new Set<string>()

  constructor(client: RedisClient, prefix: string, isSharded: boolean, host: InterestHost) {
    this.#host = host
    this.#client = client
    this.#prefix = prefix
    this.#isSharded = isSharded
    this.#isClientReady = client.status === 'ready'
  }

  /**
   * On a Cluster: subscribe through `links`. Given once, right after they are made; until then (they may
   * report a change while they are being made) the subscribe side counts as the client's readiness.
   */
  useClusterLinks(links: ClusterSubscribeLinks): void {
    this.#links = links
  }

  /** Subscriptions go through the target's own connections to a Cluster's masters. */
  get isCluster(): boolean {
    return this.#links !== undefined
  }

  /** Every live type is subscribed, or will be as soon as Redis answers (on a Cluster, on its owner). */
  isHealthy(): boolean {
    return this.#links?.isHealthy() ?? this.#isClientReady
  }

  /** True when this node's subscription to `channel` is in place, so Redis echoes what we publish there. */
  isListening(channel: string): boolean {
    return this.isHealthy() && this.#host.registry.has(channel.slice(this.#prefix.length))
  }

  /** The subscribe connections that are usable, for `stats().connections`. */
  usableCount(): number {
    return this.#links?.usableCount() ?? (this.#client.status === 'ready' ? 1 : 0)
  }

  /** A type gained its first listener or lost its last. */
  set(type: string, isInterested: boolean): void {
    if (this.#links !== undefined) {
      this.#links.setInterest(this.#prefix + type, isInterested)
      return
    }
    if (this.#isClientReady) {
      this.#send(type, isInterested)
      return
    }
    // Held back until ready: a new type is subscribed from the registry then; a type that is gone is
    // unsubscribed then if the connection had it.
    if (isInterested) this.#leaveWhenReady.delete(type)
    else if (this.#subscribed.has(type)) this.#leaveWhenReady.add(type)
  }

  /** The subscribe client closed its connection: interest waits for it again. */
  clientLost(): void {
    this.#isClientReady = false
  }

  /**
   * The subscribe client is ready (first time or back): send the interest held back and subscribe every
   * live type again.
   */
  clientReady(): void {
    this.#isClientReady = true
    if (this.#host.isClosed()) return
    const registry = this.#host.registry
    for (const type of this.#leaveWhenReady) if (!registry.has(type)) this.#send(type, false)
    this.#leaveWhenReady.clear()
    for (const type of registry.types()) this.#send(type, true)
  }

  /** Resolves once the subscribe client is ready (one shared wait); rejects if it ends first. */
  whenClientReady(): Promise<void> {
    this.#whenClientReady ??= whenReady(this.#client).finally(() => {
      this.#whenClientReady = undefined
    })
    return this.#whenClientReady
  }

  /**
   * On close: closes the target's own Cluster connections, or leaves a caller's subscribe client as it was
   * found (the returned promise settles once Redis has answered; undefined when there is nothing to undo).
   */
  close(channels: readonly string[], ownsClient: boolean): Promise<unknown> | undefined {
    this.#links?.close()
    if (ownsClient || this.#links !== undefined || channels.length === 0 || this.#client.status !== 'ready')
      return undefined
    return (
      this.#isSharded ? this.#client.sunsubscribe(...channels) : this.#client.unsubscribe(...channels)
    ).catch(() => {})
  }

  #send(type: string, isInterested: boolean): void {
    if (isInterested) this.#subscribed.add(type)
    else this.#subscribed.delete(type)
    const channel = this.#prefix + type
    const client = this.#client
    const command = isInterested
      ? this.#isSharded
        ? client.ssubscribe(channel)
        : client.subscribe(channel)
      : this.#isSharded
        ? client.sunsubscribe(channel)
        : client.unsubscribe(channel)
    this.#host.track(
      command.catch((cause: unknown) => {
        if (this.#host.isClosed()) return
        const verb = isInterested ? 'subscribe to' : 'unsubscribe from'
        this.#host.reportError(
          new EventwireError('ERR_CONNECTION', `${verb} "${channel}" failed`, { cause, eventType: type }),
        )
      }),
    )
  }
}
