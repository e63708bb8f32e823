import { type } from 'arktype'
import { Schema } from 'effect'
import * as v from 'valibot'
import { z } from 'zod'
import type { StandardSchemaV1 } from '../../src/transport/index.js'

/**
 * The detail of the conformance suite's `checked` events, `{ n: number, text: string }`, in each schema
 * library the project is tested with. Each refuses `{ n: 'not a number' }` with an issue at `n`.
 */
export const CHECKED_SCHEMAS: Readonly<Record<'zod' | 'valibot' | 'arktype' | 'effect', StandardSchemaV1>> = {
  zod: z.object({ n: z.number(), text: z.string() }),
  valibot: v.object({ n: v.number(), text: v.string() }),
  arktype: type({ n: 'number', text: 'string' }),
  effect: Schema.toStandardSchemaV1(Schema.Struct({ n: Schema.Number, text: Schema.String })),
}

export type SchemaLibrary = keyof typeof CHECKED_SCHEMAS
export const SCHEMA_LIBRARIES = Object.keys(CHECKED_SCHEMAS) as SchemaLibrary[]
