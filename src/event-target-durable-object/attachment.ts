/**
 * What the hub keeps in each socket's attachment, which the runtime stores with the socket while the
 * object hibernates: enough to route for the link again without a new handshake. The keys are short
 * because the attachment holds at most 16 KiB, and `ew` marks it as ours: a socket the application
 * accepted itself (with an attachment of its own) is left alone.
 */
export interface LinkRecord {
  /** The connection id the hub gave the link. */
  readonly id: string
  readonly principal: unknown
  /** The link's hello has arrived: it is adopted as it is, not greeted again. */
  readonly greeted: boolean
  /** Its hello listed the `run` feature. */
  readonly runs: boolean
  /** The types it subscribed to. */
  readonly types: readonly string[]
}

/** The largest attachment the runtime keeps (it refuses a larger one with an exception). */
export const MAX_ATTACHMENT_BYTES = 16_384

const FORMAT = 1

interface Stored {
  ew: typeof FORMAT
  id: string
  p?: unknown
  g: 0 | 1
  r: 0 | 1
  t: string[]
}

export function storedRecord(record: LinkRecord): Stored {
  const stored: Stored = {
    ew: FORMAT,
    id: record.id,
    g: record.greeted ? 1 : 0,
    r: record.runs ? 1 : 0,
    t: [...record.types],
  }
  if (record.principal !== undefined) stored.p = record.principal
  return stored
}

/** The record in an attachment; undefined when the attachment is not one this hub wrote. */
export function readRecord(value: unknown): LinkRecord | undefined {
  if (typeof value !== 'object' || value === null) return undefined
  const stored = value as Partial<Stored>
  if (stored.ew !== FORMAT || typeof stored.id !== 'string' || !Array.isArray(stored.t)) return undefined
  if (!stored.t.every((type) => typeof type === 'string')) return undefined
  return {
    id: stored.id,
    principal: stored.p,
    greeted: stored.g === 1,
    runs: stored.r === 1,
    types: stored.t,
  }
}
