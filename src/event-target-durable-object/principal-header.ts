/**
 * How the Worker in front hands the principal its `authenticate` produced to the object: a request
 * header the Worker always sets or removes itself, so a client cannot supply it. The object trusts it
 * because a Durable Object can only be reached through a binding, that is from a Worker of its own.
 */
export const PRINCIPAL_HEADER = 'x-eventwire-principal'

/** Header values are bytes: the principal travels as URI-encoded JSON, which is ASCII. */
export function encodePrincipal(principal: unknown): string {
  const json = JSON.stringify(principal)
  if (json === undefined) throw new TypeError('the principal must be a JSON value')
  return encodeURIComponent(json)
}

export type PrincipalReading = { ok: true; principal: unknown } | { ok: false }

/** The principal a request carries: undefined without the header, not ok when it cannot be read. */
export function readPrincipal(request: Request): PrincipalReading {
  const text = request.headers.get(PRINCIPAL_HEADER)
  if (text === null) return { ok: true, principal: undefined }
  try {
    return { ok: true, principal: JSON.parse(decodeURIComponent(text)) }
  } catch {
    return { ok: false }
  }
}
