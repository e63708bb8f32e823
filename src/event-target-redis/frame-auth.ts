import { createHmac, timingSafeEqual } from 'node:crypto'
import { invalidOption } from '../core/errors.js'

/** Shared keys that sign every message a Redis target publishes and verify every message it receives. */
export interface RedisAuthOptions {
  /**
   * The first key signs; every key verifies. To rotate without downtime: add the new key second on every
   * node, then move it first on every node, then remove the old one. At least 16 bytes each.
   */
  keys: ReadonlyArray<string | Uint8Array>
}

/** What a signed message starts with, before the MAC; frames start with `[`, so the two never mix. */
const SIGNED_PREFIX = '~'
/** HMAC-SHA-256 in base64url: 43 characters. */
const MAC_LENGTH = 43
const MIN_KEY_BYTES = 16

export interface FrameAuth {
  sign(message: string): string
  /** The message without its MAC when one of the keys signed it; undefined otherwise. */
  verify(signed: string): string | undefined
}

export function readAuth(value: unknown): FrameAuth | undefined {
  if (value === undefined) return undefined
  const keys = (value as Partial<RedisAuthOptions> | null)?.keys
  if (
    !Array.isArray(keys) ||
    keys.length === 0 ||
    !keys.every((key) => keyBytes(key) !== undefined && keyBytes(key)!.length >= MIN_KEY_BYTES)
  ) {
    invalidOption(
      'auth.keys',
      `a non-empty list of keys (strings or bytes) of ${MIN_KEY_BYTES} bytes or more`,
      keys,
    )
  }
  const secrets = keys.map((key) => keyBytes(key)!)
  const mac = (key: Uint8Array, message: string) =>
    createHmac('sha256', key).update(message).digest('base64url')
  return {
    sign: (message) => SIGNED_PREFIX + mac(secrets[0]!, message) + message,
    verify: (signed) => {
      if (signed.length <= 1 + MAC_LENGTH || !signed.startsWith(SIGNED_PREFIX)) return undefined
      const given = Buffer.from(signed.slice(1, 1 + MAC_LENGTH))
      const message = signed.slice(1 + MAC_LENGTH)
      for (const key of secrets) {
        const expected = Buffer.from(mac(key, message))
        if (expected.length === given.length && timingSafeEqual(expected, given)) return message
      }
      return undefined
    },
  }
}

function keyBytes(key: unknown): Uint8Array | undefined {
  if (typeof key === 'string') return Buffer.from(key, 'utf8')
  if (key instanceof Uint8Array) return key
  return undefined
}
