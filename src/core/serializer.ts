import type { Serializer } from './types.js'

/**
 * The default serializer. The frame codec recognises this exact object and embeds details as JSON values
 * inside the frame (one `JSON.stringify` per frame); any other serializer's output travels as a string.
 */
export const jsonSerializer: Serializer = Object.freeze({
  stringify: (value: unknown): string => JSON.stringify(value) ?? 'null',
  parse: (text: string): unknown => JSON.parse(text),
})

export function isSerializer(value: unknown): value is Serializer {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as Serializer).stringify === 'function' &&
    typeof (value as Serializer).parse === 'function'
  )
}
