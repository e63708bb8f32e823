import type { Cluster, Redis } from 'ioredis'
import { EventwireError, invalidOption } from '../core/errors.js'

/**
 * What the Redis target's parts need to know about an ioredis client, in one place: the two kinds it
 * takes, how to tell them apart, how to check one it was given, and how to wait until one is ready.
 */

/** An ioredis client: a single `Redis` connection or a `Cluster`. */
export type RedisClient = Redis | Cluster

// Redis client events carry differently typed arguments per event name.
// biome-ignore lint/suspicious/noExplicitAny: the listener signature ioredis declares
export type ClientListener = (...args: any[]) => void

export function isCluster(client: RedisClient): client is Cluster {
  return client.isCluster === true
}

/** The client given as option `name`, or ERR_INVALID_OPTION when it is no ioredis client. */
export function readClient(name: string, client: unknown): RedisClient {
  const candidate = client as Partial<Redis> | undefined
  if (
    typeof candidate !== 'object' ||
    candidate === null ||
    typeof candidate.publish !== 'function' ||
    typeof candidate.subscribe !== 'function' ||
    typeof candidate.on !== 'function'
  ) {
    invalidOption(name, 'an ioredis Redis or Cluster client (or give url or redisOptions instead)', client)
  }
  return client as RedisClient
}

/** Resolves once `client` is ready; rejects with ERR_CONNECTION if it ends first. */
export function whenReady(client: RedisClient): Promise<void> {
  if (client.status === 'ready') return Promise.resolve()
  return new Promise((resolve, reject) => {
    const onReady = () => {
      client.off('end', onEnd)
      resolve()
    }
    const onEnd = () => {
      client.off('ready', onReady)
      reject(new EventwireError('ERR_CONNECTION', 'the redis client ended before it was ready'))
    }
    client.once('ready', onReady)
    client.once('end', onEnd)
  })
}
