/**
 * Every code eventwire reports. A published code is never renamed: codes travel inside error frames and
 * applications switch over them.
 */
export type EventwireErrorCode =
  | 'ERR_FRAME_MALFORMED'
  | 'ERR_FRAME_TOO_LARGE'
  | 'ERR_PROTOCOL_VERSION'
  | 'ERR_SERIALIZE'
  | 'ERR_LISTENER_THREW'
  | 'ERR_UNAUTHORIZED'
  | 'ERR_OVERFLOW'
  | 'ERR_CONNECTION'
  | 'ERR_INVALID_OPTION'
  | 'ERR_TIMEOUT'
  | 'ERR_CLOSED'
  | 'ERR_HOP_LIMIT'
  | 'ERR_REMOTE'
  | 'ERR_ABORTED'
  | 'ERR_LIMIT'
  | 'ERR_SEQUENCE'
  | 'ERR_INVALID'

const CODES: ReadonlySet<string> = new Set<EventwireErrorCode>([
  'ERR_FRAME_MALFORMED',
  'ERR_FRAME_TOO_LARGE',
  'ERR_PROTOCOL_VERSION',
  'ERR_SERIALIZE',
  'ERR_LISTENER_THREW',
  'ERR_UNAUTHORIZED',
  'ERR_OVERFLOW',
  'ERR_CONNECTION',
  'ERR_INVALID_OPTION',
  'ERR_TIMEOUT',
  'ERR_CLOSED',
  'ERR_HOP_LIMIT',
  'ERR_REMOTE',
  'ERR_ABORTED',
  'ERR_LIMIT',
  'ERR_SEQUENCE',
  'ERR_INVALID',
])

/** True when `code` is one of the published `EventwireErrorCode`s (for codes read off the wire). */
export function isEventwireErrorCode(code: unknown): code is EventwireErrorCode {
  return typeof code === 'string' && CODES.has(code)
}

/** One thing wrong with a detail, as its schema said it (`ERR_INVALID`). */
export interface EventwireIssue {
  /** Where in the detail: `user.tags[2]`; empty for the detail itself. */
  readonly path: string
  readonly message: string
}

export interface EventwireErrorOptions {
  cause?: unknown
  /** The event type the error is about, when there is one. */
  eventType?: string
  /** What is wrong with a detail (`ERR_INVALID` thrown or reported on this node). */
  issues?: readonly EventwireIssue[]
}

/**
 * Marks every EventwireError, whichever copy of the package made it: a process that loads both the ES
 * module and the CommonJS build holds two classes, and `instanceof` must hold across them.
 */
const BRAND = Symbol.for('eventwire.error')

/** The one error class of eventwire; switch over `code`. */
export class EventwireError extends Error {
  override readonly name = 'EventwireError'
  readonly code: EventwireErrorCode
  readonly eventType: string | undefined
  /**
   * For `ERR_INVALID` raised on this node: what the schema found wrong (at most five issues). An error
   * frame carries only the message, which lists the same issues as `path: message`.
   */
  readonly issues: readonly EventwireIssue[] | undefined

  constructor(code: EventwireErrorCode, message: string, options: EventwireErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause })
    this.code = code
    this.eventType = options.eventType
    this.issues = options.issues
    Object.defineProperty(this, BRAND, { value: true })
  }

  /** True for an EventwireError of any copy of the package; a subclass checks its prototype as usual. */
  static override [Symbol.hasInstance](value: unknown): boolean {
    // `this` is the class on the right of `instanceof`: this one, or a subclass.
    // biome-ignore lint/complexity/noThisInStatic: a subclass must not inherit the brand check
    if (this !== EventwireError) return Function.prototype[Symbol.hasInstance].call(this, value)
    return typeof value === 'object' && value !== null && (value as { [BRAND]?: unknown })[BRAND] === true
  }
}

/** Throws `ERR_INVALID_OPTION` naming the option: misuse at call time fails synchronously. */
export function invalidOption(name: string, expected: string, got: unknown): never {
  throw new EventwireError('ERR_INVALID_OPTION', `option "${name}" must be ${expected}; got ${describe(got)}`)
}

function describe(value: unknown): string {
  if (value === null) return 'null'
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value)
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint')
    return String(value)
  return typeof value
}
