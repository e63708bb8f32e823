import type { RedisOptions } from 'ioredis'
import { DEFAULTS } from '../core/defaults.js'
import { invalidOption } from '../core/errors.js'
import type { FrameLimits } from '../core/frame.js'
import { createNodeId } from '../core/link.js'
import { readLimits, readNonNegativeInteger, readSerializer } from '../core/options.js'
import type { EventsOptions } from '../core/schema.js'
import type { NetworkEventTargetOptions, Serializer, TypedEvent } from '../core/types.js'
import { isCluster, type RedisClient, readClient } from './client.js'
import { type FrameAuth, type RedisAuthOptions, readAuth } from './frame-auth.js'
import { createOwnClients } from './own-clients.js'
import { type RecoverySettings, type RedisTargetHistoryOptions, readHistoryOption } from './recovery.js'
import type { RedisWireFormat } from './yoga-format.js'

/**
 * The options of the Redis target and the one place that checks them, so the target's constructor wires
 * parts instead of validating input. The checks run in a fixed order (the first bad option is the one
 * reported), and the target's own connections are made last, once every other option is known good.
 */

/**
 * `TEvent` is inferred from `events`. A Redis target checks what it receives against them by default:
 * there is no hub, and every client of the server can publish.
 */
export interface RedisEventTargetOptions<TEvent extends TypedEvent = TypedEvent>
  extends NetworkEventTargetOptions,
    EventsOptions<TEvent> {
  /**
   * Runs PUBLISH (or SPUBLISH); may be shared with the rest of the app. Give both clients, or `url` and/or
   * `redisOptions` instead. `close()` leaves clients given here open: they are yours.
   */
  publishClient?: RedisClient
  /**
   * Reserved for SUBSCRIBE (or SSUBSCRIBE): a subscribed connection can run nothing else. Give each target
   * its own, or distinct prefixes. @see publishClient
   */
  subscribeClient?: RedisClient
  /**
   * A `redis://` or `rediss://` URL, instead of the two clients: the target makes its own two connections
   * (with `redisOptions`, if given) and closes them on `close()`, so a process can exit after it.
   * Needs the ioredis package. For a Cluster, pass `Cluster` clients.
   */
  url?: string
  /**
   * ioredis options for the connections the target makes itself (with `url`, or alone: `host`, `port`,
   * `password`, `tls`…). Not with `publishClient`/`subscribeClient`.
   */
  redisOptions?: RedisOptions
  /**
   * `ready` rejects with `ERR_TIMEOUT` (naming the last connection error) if the target is not connected
   * after this long; the target keeps trying, and reports `connected` when it gets there. 0 waits as long
   * as the clients try.
   * @default 10_000
   */
  readyTimeoutMs?: number
  /**
   * What the messages on the channels look like. `'graphql-yoga'` is the format of
   * `@graphql-yoga/redis-event-target` (one message per event, the serialized detail alone, on the
   * channel `prefix + type`), so servers on it and servers on this target share channels during a
   * migration. It gives up what the frames carry: the sequence check (copies and late arrivals are
   * delivered), batching (one PUBLISH per event), `auth` and `sharded` (refused), the bridge hop count and
   * event identity; see docs/pubsub.md.
   * @default 'eventwire'
   */
  wireFormat?: RedisWireFormat
  /** Put in front of every event type to form the channel name. @default '' */
  prefix?: string
  /**
   * Use sharded pub/sub (SPUBLISH/SSUBSCRIBE, Redis 7): on a Cluster each channel lives on the shard of its
   * slot instead of being broadcast to every node.
   * @default false
   */
  sharded?: boolean
  /** Origin id of events dispatched here; Redis echoes our own publishes and this id filters them. @default random */
  nodeId?: string
  /** Message size, type length and batch limits. @see FrameLimits */
  limits?: Partial<FrameLimits>
  /**
   * Events kept while the publish connection is not ready (on a Cluster: the connection of the master a
   * channel publishes through), published in dispatch order once it is; past it the oldest are dropped and
   * counted in `stats().dropped`. 0 drops every event dispatched while the publish connection is down.
   * They are held here rather than in ioredis's offline queue, which lets a PUBLISH issued during the
   * reconnect handshake overtake the ones queued before it.
   * @default 10_000
   */
  offlineQueueSize?: number
  /**
   * Sign every published message with a shared key (HMAC-SHA-256) and drop, counted and reported as
   * `ERR_UNAUTHORIZED`, every received message that no key signed: a client of the Redis server without the
   * key can no longer inject or forge events. Every node on the channels must have it on. @default off
   */
  auth?: RedisAuthOptions
  /**
   * Keep the events of these types in a Redis stream per type (the `createRedisHistory` layout, on the
   * publish client and `prefix`), appended and published by one script so the stream's order is the
   * channel's, and after an outage read what was missed from it: `recovered`, or a per-type `gap` with the
   * reason (docs/recovery.md). Not with `auth`, `wireFormat: 'graphql-yoga'`, or classic pub/sub on a
   * Cluster (sharded pub/sub on a Cluster works), for now.
   * @default off
   */
  history?: RedisTargetHistoryOptions
}

/** The options once checked, with their defaults applied, and the two clients to use. */
export interface RedisSettings {
  readonly auth: FrameAuth | undefined
  readonly history: RecoverySettings | undefined
  readonly prefix: string
  readonly isSharded: boolean
  readonly wireFormat: RedisWireFormat
  readonly readyTimeoutMs: number
  readonly serializer: Serializer
  readonly limits: FrameLimits
  readonly offlineQueueSize: number
  readonly nodeId: string
  /** The clients were made here from `url`/`redisOptions`: `close()` closes them. */
  readonly ownsClients: boolean
  readonly publishClient: RedisClient
  readonly subscribeClient: RedisClient
}

/** Checks every option but `onError` and `onStatus` (the base target reads those) and makes the clients. */
export function readRedisOptions(opts: Partial<RedisEventTargetOptions>): RedisSettings {
  const auth = readAuth(opts.auth)
  if (opts.prefix !== undefined && typeof opts.prefix !== 'string')
    invalidOption('prefix', 'a string', opts.prefix)
  const prefix = opts.prefix ?? ''
  if (opts.sharded !== undefined && typeof opts.sharded !== 'boolean')
    invalidOption('sharded', 'a boolean', opts.sharded)
  const isSharded = opts.sharded === true
  const wireFormat = opts.wireFormat ?? 'eventwire'
  if (wireFormat !== 'eventwire' && wireFormat !== 'graphql-yoga')
    invalidOption('wireFormat', "'eventwire' or 'graphql-yoga'", wireFormat)
  if (wireFormat === 'graphql-yoga') {
    // Yoga's messages have no room for a signature, and yoga's target uses classic pub/sub.
    if (auth !== undefined)
      invalidOption('auth', "unset with wireFormat 'graphql-yoga' (its messages carry no signature)", 'keys')
    if (isSharded)
      invalidOption('sharded', "false with wireFormat 'graphql-yoga' (yoga uses classic pub/sub)", true)
  }
  const history = readHistoryOption(opts.history)
  if (history !== undefined) {
    // The script builds each frame with its position: a signature made before cannot cover it, and
    // yoga's messages have no slot for it.
    if (auth !== undefined) invalidOption('history', 'unset with auth (for now)', 'history')
    if (wireFormat === 'graphql-yoga')
      invalidOption(
        'history',
        "unset with wireFormat 'graphql-yoga' (its messages carry no position)",
        'history',
      )
  }
  const readyTimeoutMs = readNonNegativeInteger(
    'readyTimeoutMs',
    opts.readyTimeoutMs,
    DEFAULTS.readyTimeoutMs,
  )
  const serializer = readSerializer(opts.serializer)
  const limits = readLimits(opts.limits)
  const offlineQueueSize = readNonNegativeInteger(
    'offlineQueueSize',
    opts.offlineQueueSize,
    DEFAULTS.offlineQueueSize,
  )
  if (opts.nodeId !== undefined && (typeof opts.nodeId !== 'string' || opts.nodeId.length === 0)) {
    invalidOption('nodeId', 'a non-empty string', opts.nodeId)
  }
  const nodeId = opts.nodeId ?? createNodeId()
  const ownsClients = opts.url !== undefined || opts.redisOptions !== undefined
  if (ownsClients) {
    for (const name of ['publishClient', 'subscribeClient'] as const) {
      if (opts[name] !== undefined)
        invalidOption(name, 'unset when url or redisOptions is given (the target makes its own)', opts[name])
    }
  }
  // Last, once every option is known good: connections made here must not be left open by a throw.
  const [publishClient, subscribeClient] = ownsClients
    ? createOwnClients(opts.url, opts.redisOptions)
    : [readClient('publishClient', opts.publishClient), readClient('subscribeClient', opts.subscribeClient)]
  if (publishClient === subscribeClient) {
    invalidOption(
      'subscribeClient',
      'a different client than publishClient (a subscribed connection can run nothing else)',
      'the same client',
    )
  }
  // On a Cluster the script must run on the slot's owner, where the sharded publisher already publishes;
  // classic channels go through a master chosen for the channel, which may not own the keys.
  if (history !== undefined && !isSharded && (isCluster(publishClient) || isCluster(subscribeClient))) {
    invalidOption('history', 'unset on a Redis Cluster with classic pub/sub (use sharded: true)', 'history')
  }
  return {
    auth,
    history,
    prefix,
    isSharded,
    wireFormat,
    readyTimeoutMs,
    serializer,
    limits,
    offlineQueueSize,
    nodeId,
    ownsClients,
    publishClient,
    subscribeClient,
  }
}
