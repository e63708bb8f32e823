import { createRequire } from 'node:module'
import type { Redis, RedisOptions } from 'ioredis'
import { EventwireError, invalidOption } from '../core/errors.js'

/**
 * The two connections a target makes for itself from `url` and `redisOptions`, and closes on `close()`.
 * ioredis is loaded here, only when a target is given a URL or options: given clients, the subpath never
 * loads it (they may come from any ioredis 5 or later).
 */
export function createOwnClients(url: unknown, options: unknown): [publisher: Redis, subscriber: Redis] {
  if (url !== undefined) readUrl(url)
  if (options !== undefined && (typeof options !== 'object' || options === null))
    invalidOption('redisOptions', 'an object of ioredis options', options)
  const RedisClient = loadRedis()
  const make = (): Redis =>
    url === undefined
      ? new RedisClient({ ...(options as RedisOptions) })
      : new RedisClient(url as string, { ...(options as RedisOptions | undefined) })
  return [make(), make()]
}

function readUrl(url: unknown): void {
  let protocol: string | undefined
  try {
    protocol = typeof url === 'string' ? new URL(url).protocol : undefined
  } catch {
    protocol = undefined
  }
  if (protocol !== 'redis:' && protocol !== 'rediss:') invalidOption('url', 'a redis: or rediss: URL', url)
}

type RedisConstructor = new (...args: [string, RedisOptions] | [RedisOptions]) => Redis

let loaded: RedisConstructor | undefined

function loadRedis(): RedisConstructor {
  if (loaded !== undefined) return loaded
  let module: { Redis?: RedisConstructor; default?: RedisConstructor }
  try {
    module = createRequire(import.meta.url)('ioredis')
  } catch (cause) {
    throw new EventwireError(
      'ERR_CONNECTION',
      'the url and redisOptions options need the ioredis package: install ioredis',
      { cause },
    )
  }
  const found = module.Redis ?? module.default
  if (typeof found !== 'function')
    throw new EventwireError('ERR_CONNECTION', 'the ioredis package has no Redis export')
  loaded = found
  return found
}
