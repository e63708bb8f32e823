/**
 * Redis transport: symmetric peers over Redis pub/sub (ioredis `Redis` or `Cluster`, classic or sharded).
 * Every node is equal; the scale-out path for hubs on several machines.
 * @module
 */
export type { RedisClient } from './client.js'
export type { RedisAuthOptions } from './frame-auth.js'
export type { RedisHistory, RedisHistoryOptions } from './history.js'
export { createRedisHistory, historyKeyBase } from './history.js'
export type { RedisEventTargetOptions } from './options.js'
export type { RedisTargetHistoryOptions } from './recovery.js'
export type { RedisEventTarget } from './redis-event-target.js'
export { createRedisEventTarget } from './redis-event-target.js'
export type { RedisWireFormat } from './yoga-format.js'
