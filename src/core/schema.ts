import { EventwireError, type EventwireIssue, invalidOption } from './errors.js'
import type { TypedEvent } from './types.js'

/**
 * The Standard Schema v1 interface, copied from its specification (which invites libraries to copy it
 * rather than depend on it): what zod, valibot, arktype, effect's Schema and others implement. A copy, so
 * that the published declarations compile without the spec's package installed.
 */
export interface StandardSchemaV1<Input = unknown, Output = Input> {
  /** The Standard Schema properties. */
  readonly '~standard': StandardSchemaV1.Props<Input, Output>
}

export declare namespace StandardSchemaV1 {
  /** The Standard Schema properties interface. */
  export interface Props<Input = unknown, Output = Input> {
    /** The version number of the standard. */
    readonly version: 1
    /** The vendor name of the schema library. */
    readonly vendor: string
    /** Validates unknown input values. */
    readonly validate: (
      value: unknown,
      options?: StandardSchemaV1.Options | undefined,
    ) => Result<Output> | Promise<Result<Output>>
    /** Inferred types associated with the schema. */
    readonly types?: Types<Input, Output> | undefined
  }
  /** The result interface of the validate function. */
  export type Result<Output> = SuccessResult<Output> | FailureResult
  /** The result interface if validation succeeds. */
  export interface SuccessResult<Output> {
    /** The typed output value. */
    readonly value: Output
    /** The absence of issues indicates success. */
    readonly issues?: undefined
  }
  /** Options of the validate function. */
  export interface Options {
    /** Explicit support for additional vendor-specific parameters, if needed. */
    readonly libraryOptions?: Record<string, unknown> | undefined
  }
  /** The result interface if validation fails. */
  export interface FailureResult {
    /** The issues of failed validation. */
    readonly issues: ReadonlyArray<Issue>
  }
  /** The issue interface of the failure output. */
  export interface Issue {
    /** The error message of the issue. */
    readonly message: string
    /** The path of the issue, if any. */
    readonly path?: ReadonlyArray<PropertyKey | PathSegment> | undefined
  }
  /** The path segment interface of the issue. */
  export interface PathSegment {
    /** The key representing a path segment. */
    readonly key: PropertyKey
  }
  /** The Standard Schema types interface. */
  export interface Types<Input = unknown, Output = Input> {
    /** The input type of the schema. */
    readonly input: Input
    /** The output type of the schema. */
    readonly output: Output
  }
  /** Infers the input type of a Standard Schema. */
  export type InferInput<Schema extends StandardSchemaV1> = NonNullable<Schema['~standard']['types']>['input']
  /** Infers the output type of a Standard Schema. */
  export type InferOutput<Schema extends StandardSchemaV1> = NonNullable<
    Schema['~standard']['types']
  >['output']
}

/** Event type → the schema of its detail, from any Standard Schema v1 library (libraries may be mixed). */
export type EventSchemas = { readonly [type: string]: StandardSchemaV1 }

/**
 * The event union of a map of schemas: one `TypedEvent` per type, whose detail is the schema's input
 * (what travels and what listeners receive: a schema checks a detail and never rewrites it).
 */
export type SchemaEvents<TSchemas extends EventSchemas> = {
  [TType in keyof TSchemas & string]: TypedEvent<TType, StandardSchemaV1.InferInput<TSchemas[TType]>>
}[keyof TSchemas & string]

/**
 * The events of a topology, declared once with `defineEvents` and given to every target as its `events`
 * option: the targets take their event union from it, and check details against it.
 */
export interface EventDeclaration<TEvent extends TypedEvent = TypedEvent> {
  /** Event type → the schema of its detail. */
  readonly schemas: { readonly [type: string]: StandardSchemaV1 }
  /**
   * What happens to an event whose type has no schema: `'refuse'` treats it as invalid, `'allow'` lets
   * it through unchecked (while a topology adopts schemas type by type).
   */
  readonly otherTypes: 'refuse' | 'allow'
  /**
   * Never set: carries the event union for the compiler, so that a target infers its type from it. A
   * method, so that it compares both ways: a transport generic over its events can pass on options
   * typed with the plain `TypedEvent`.
   */
  '~events'?(event: TEvent): void
}

/** The event union of a declaration (`EventsOf<typeof events>`), or of a map of schemas. */
export type EventsOf<T extends EventDeclaration | EventSchemas> =
  T extends EventDeclaration<infer TEvent> ? TEvent : T extends EventSchemas ? SchemaEvents<T> : never

export interface DefineEventsOptions {
  /**
   * An event whose type has no schema: `'refuse'` (invalid, like a detail that fails its schema) or
   * `'allow'` (through unchecked).
   * @default 'refuse'
   */
  otherTypes?: 'refuse' | 'allow'
}

/**
 * Declares the events of a topology: a map from event type to the schema of its detail, in any library
 * that implements Standard Schema v1. Give the result to every target as `events`; their event union is
 * inferred from it (`EventsOf<typeof events>` names it).
 */
export function defineEvents<const TSchemas extends EventSchemas>(
  schemas: TSchemas,
  options: DefineEventsOptions = {},
): EventDeclaration<SchemaEvents<TSchemas>> {
  if (typeof schemas !== 'object' || schemas === null) invalidOption('schemas', 'an object', schemas)
  const otherTypes = options.otherTypes ?? 'refuse'
  if (otherTypes !== 'refuse' && otherTypes !== 'allow') {
    invalidOption('otherTypes', '"refuse" or "allow"', otherTypes)
  }
  const copy: Record<string, StandardSchemaV1> = Object.create(null)
  for (const type of Object.keys(schemas)) {
    const schema = schemas[type]
    if (!isStandardSchema(schema)) invalidOption(`schemas.${type}`, 'a Standard Schema v1 schema', schema)
    copy[type] = schema
  }
  return Object.freeze({ schemas: Object.freeze(copy), otherTypes })
}

function isStandardSchema(value: unknown): value is StandardSchemaV1 {
  if ((typeof value !== 'object' && typeof value !== 'function') || value === null) return false
  const props = (value as Partial<StandardSchemaV1>)['~standard']
  return (
    typeof props === 'object' && props !== null && props.version === 1 && typeof props.validate === 'function'
  )
}

/** Which details a target checks against its declaration. */
export interface ValidateOptions {
  /**
   * What this node dispatches, checked before it is sent or delivered: an invalid detail throws
   * `ERR_INVALID` at the call and reaches no one. Only a synchronous answer can stop the call; an
   * asynchronous one is reported to `onError` when it comes.
   * @default true
   */
  dispatched?: boolean
  /**
   * What arrives from the network, checked before any listener (and, on a hub, any other spoke) sees it.
   * @default true on hubs and on the Redis target (the trust boundary: anyone may send), false on spokes
   * (their hub checked it)
   */
  received?: boolean
}

/** The options a target takes for schemas; `TEvent` is inferred from `events`. */
export interface EventsOptions<TEvent extends TypedEvent = TypedEvent> {
  /** The declaration of the topology's events (`defineEvents`): types this target and checks details. */
  events?: EventDeclaration<TEvent>
  /** Which details are checked. @default see `ValidateOptions` */
  validate?: ValidateOptions
}

/**
 * Checks one detail: `undefined` when it is valid, an `ERR_INVALID` error naming the issues when not, or
 * a promise of either when the schema answers asynchronously (it never rejects: a schema that throws
 * makes the detail invalid). A synchronous valid answer allocates nothing here.
 */
export type DetailCheck = (
  type: string,
  detail: unknown,
) => EventwireError | undefined | Promise<EventwireError | undefined>

/** Issues kept in an `ERR_INVALID` error: the first few say what is wrong. */
const MAX_ISSUES = 5
/** Characters kept of one issue's message, and of its path. */
const MAX_ISSUE_MESSAGE = 100
const MAX_ISSUE_PATH = 60

/** Reads the `events` and `validate` options of a target: the two checks, or undefined where off. */
export function readValidation(
  options: EventsOptions<TypedEvent>,
  receivedByDefault: boolean,
): { dispatched: DetailCheck | undefined; received: DetailCheck | undefined } {
  const declaration = options.events
  if (declaration === undefined) return { dispatched: undefined, received: undefined }
  if (
    typeof declaration !== 'object' ||
    declaration === null ||
    typeof declaration.schemas !== 'object' ||
    declaration.schemas === null
  ) {
    invalidOption('events', 'a declaration made by defineEvents', declaration)
  }
  const validate = options.validate ?? {}
  if (typeof validate !== 'object' || validate === null) invalidOption('validate', 'an object', validate)
  const check = createDetailCheck(declaration)
  return {
    dispatched: validate.dispatched === false ? undefined : check,
    received: (validate.received ?? receivedByDefault) ? check : undefined,
  }
}

/** The check of a declaration; the schemas are looked up in a `Map`, so no type name is special. */
export function createDetailCheck(declaration: EventDeclaration<TypedEvent>): DetailCheck {
  const validators = new Map<string, StandardSchemaV1.Props['validate']>()
  for (const type of Object.keys(declaration.schemas)) {
    const schema = declaration.schemas[type]
    if (!isStandardSchema(schema)) invalidOption(`events.${type}`, 'a Standard Schema v1 schema', schema)
    validators.set(type, schema['~standard'].validate)
  }
  const allowOthers = declaration.otherTypes === 'allow'
  return (type, detail) => {
    const validate = validators.get(type)
    if (validate === undefined) {
      if (allowOthers) return undefined
      return invalidError(type, [{ path: '', message: 'no schema is declared for this type' }])
    }
    let result: StandardSchemaV1.Result<unknown> | Promise<StandardSchemaV1.Result<unknown>>
    try {
      result = validate(detail)
    } catch (cause) {
      return schemaThrew(type, cause)
    }
    // Any thenable, not only a native promise: a result read as synchronous would pass unchecked. What
    // this returns is always a native promise, which the callers test for.
    if (
      typeof result === 'object' &&
      result !== null &&
      typeof (result as { then?: unknown }).then === 'function'
    ) {
      return Promise.resolve(result).then(
        (settled) => outcome(type, settled),
        (cause: unknown) => schemaThrew(type, cause),
      )
    }
    return outcome(type, result as StandardSchemaV1.Result<unknown>)
  }
}

function outcome(type: string, result: StandardSchemaV1.Result<unknown>): EventwireError | undefined {
  if (typeof result !== 'object' || result === null) {
    return invalidError(type, [{ path: '', message: 'the schema gave no result' }])
  }
  if (result.issues === undefined) return undefined
  if (!Array.isArray(result.issues)) return invalidError(type, [{ path: '', message: 'invalid' }])
  return invalidError(type, result.issues.slice(0, MAX_ISSUES).map(toIssue), result.issues.length)
}

function schemaThrew(type: string, cause: unknown): EventwireError {
  return new EventwireError('ERR_INVALID', `the schema of "${type}" threw`, {
    cause,
    eventType: type,
    issues: [{ path: '', message: 'the schema threw' }],
  })
}

/**
 * An `ERR_INVALID` error whose message lists the issues (`path: message`, at most five, each cut short),
 * so that it stays well under the 1,024 characters of an error frame and tells a remote sender which
 * field was wrong.
 */
export function invalidError(
  type: string,
  issues: readonly EventwireIssue[],
  total = issues.length,
): EventwireError {
  const listed = issues.map((issue) =>
    issue.path === '' ? issue.message : `${issue.path}: ${issue.message}`,
  )
  const more = total > issues.length ? ` (and ${total - issues.length} more)` : ''
  return new EventwireError('ERR_INVALID', `invalid "${cut(type, 64)}" event: ${listed.join('; ')}${more}`, {
    eventType: type,
    issues,
  })
}

function toIssue(issue: StandardSchemaV1.Issue): EventwireIssue {
  const message = cut(
    typeof issue.message === 'string' ? issue.message : String(issue.message),
    MAX_ISSUE_MESSAGE,
  )
  return { path: cut(formatPath(issue.path), MAX_ISSUE_PATH), message }
}

/** `user.tags[2]`: keys joined by dots, numbers as indexes. */
function formatPath(path: StandardSchemaV1.Issue['path']): string {
  if (path === undefined || !Array.isArray(path)) return ''
  let text = ''
  for (const segment of path.slice(0, 16)) {
    const key: unknown =
      typeof segment === 'object' && segment !== null
        ? (segment as StandardSchemaV1.PathSegment).key
        : segment
    if (typeof key === 'number') text += `[${key}]`
    else text += text === '' ? String(key) : `.${String(key)}`
    if (text.length > MAX_ISSUE_PATH) break
  }
  return text
}

function cut(text: string, length: number): string {
  return text.length > length ? `${text.slice(0, length)}…` : text
}

/**
 * Runs items through `step` in order; when `step` answers with a promise (a schema that checks
 * asynchronously), later items wait behind it, at most `maxWaiting` of them (past that `overflow` gets
 * each item refused). For receivers without a hub's authorize backlog (a spoke, the Redis target).
 */
export class OrderedChecks<T> {
  readonly #step: (item: T) => Promise<void> | undefined
  readonly #maxWaiting: number
  readonly #overflow: (item: T) => void
  #waiting: T[] | undefined

  constructor(step: (item: T) => Promise<void> | undefined, maxWaiting: number, overflow: (item: T) => void) {
    this.#step = step
    this.#maxWaiting = maxWaiting
    this.#overflow = overflow
  }

  push(item: T): void {
    if (this.#waiting !== undefined) {
      if (this.#waiting.length >= this.#maxWaiting) this.#overflow(item)
      else this.#waiting.push(item)
      return
    }
    const pending = this.#step(item)
    if (pending !== undefined) this.#hold(pending, [])
  }

  /** Forgets what waits (on close). */
  clear(): void {
    if (this.#waiting !== undefined) this.#waiting = []
  }

  #hold(pending: Promise<void>, waiting: T[]): void {
    this.#waiting = waiting
    pending.then(() => this.#resume())
  }

  #resume(): void {
    const waiting = this.#waiting ?? []
    this.#waiting = undefined
    for (let index = 0; index < waiting.length; index++) {
      const pending = this.#step(waiting[index]!)
      if (pending !== undefined) {
        this.#hold(pending, waiting.slice(index + 1))
        return
      }
    }
  }
}
