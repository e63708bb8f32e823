import { EventwireError, invalidOption } from '../core/errors.js'
import { CLOSE_FORBIDDEN, CLOSE_UNAUTHORIZED } from '../core/link.js'
import { readFunction, readOptionsObject } from '../core/options.js'
import type { ErrorSink } from '../core/report.js'
import {
  createWebSocketPair,
  type DurableObjectNamespaceLike,
  isWebSocketUpgrade,
  upgradeResponse,
} from './platform.js'
import { encodePrincipal, PRINCIPAL_HEADER } from './principal-header.js'

/**
 * Options of the Worker in front of the hub objects. `TEnv` is the Worker's bindings; `TPrincipal` what
 * `authenticate` admits a client with, which the object's `authorize`, `onConnection` and
 * `onDisconnection` see. It travels to the object as JSON, so it must be a JSON value that fits, with the
 * connection's subscriptions, in the 16 KiB the runtime keeps per socket.
 */
export interface DurableObjectGatewayOptions<TEnv = unknown, TPrincipal = unknown> {
  /** The namespace binding of the hub objects, e.g. `(env) => env.ROOMS`. */
  namespace: (env: TEnv) => DurableObjectNamespaceLike
  /**
   * Which object an upgrade goes to (`idFromName` of this). Undefined or an empty name answers 404.
   * @default the request's path, so each path is a room
   */
  room?: (request: Request, env: TEnv) => string | undefined | Promise<string | undefined>
  /**
   * Runs in the Worker, before the object is woken. Return the principal; `null`, `undefined` or `false`,
   * or a throw, refuses the client: its socket is opened and closed at once with 4401, which browsers can
   * read.
   * @default everyone admitted, principal `undefined`
   */
  authenticate?: (
    request: Request,
    env: TEnv,
  ) => TPrincipal | null | undefined | false | Promise<TPrincipal | null | undefined | false>
  /**
   * Browser origins allowed to connect; another `Origin` gets a socket closed at once with 4403.
   * Requests without an `Origin` (non-browser clients) are not affected.
   * @default any origin
   */
  allowedOrigins?: readonly string[]
  /** Where a refused `authenticate` (a throw) is reported. */
  onError?: (error: EventwireError) => void
}

/** The Worker's side: `fetch` for the Worker's default export, or for a Hono route. */
export interface DurableObjectGateway<TEnv = unknown> {
  /**
   * Routes a WebSocket upgrade to the object of its room, with the principal. Anything but an upgrade is
   * answered with 426.
   */
  fetch(request: Request, env: TEnv): Promise<Response>
}

/**
 * The Worker in front of the hub objects: checks the origin, runs `authenticate`, and forwards the upgrade
 * to the room's object with the principal in a header that it always sets or removes itself, so a client
 * cannot supply one.
 */
export function createDurableObjectGateway<TEnv = unknown, TPrincipal = unknown>(
  options: DurableObjectGatewayOptions<TEnv, TPrincipal>,
): DurableObjectGateway<TEnv> {
  const opts = readOptionsObject(options, 'createDurableObjectGateway')
  type Options = DurableObjectGatewayOptions<TEnv, TPrincipal>
  const namespace = readFunction<Options['namespace']>('namespace', opts.namespace)
  if (namespace === undefined)
    invalidOption('namespace', 'a function returning the namespace binding', namespace)
  const room: NonNullable<Options['room']> =
    readFunction<NonNullable<Options['room']>>('room', opts.room) ??
    ((request) => new URL(request.url).pathname)
  const authenticate = readFunction<NonNullable<Options['authenticate']>>('authenticate', opts.authenticate)
  const onError = readFunction<ErrorSink>('onError', opts.onError) ?? (() => {})
  let allowedOrigins: ReadonlySet<string> | undefined
  if (opts.allowedOrigins !== undefined) {
    if (!Array.isArray(opts.allowedOrigins) || !opts.allowedOrigins.every((o) => typeof o === 'string')) {
      invalidOption('allowedOrigins', 'an array of origin strings', opts.allowedOrigins)
    }
    allowedOrigins = new Set(opts.allowedOrigins)
  }

  return {
    fetch: async (request, env) => {
      if (!isWebSocketUpgrade(request)) return new Response('Upgrade Required', { status: 426 })
      const origin = request.headers.get('origin')
      if (origin !== null && allowedOrigins !== undefined && !allowedOrigins.has(origin)) {
        return refusal(CLOSE_FORBIDDEN, 'Forbidden')
      }
      const headers = new Headers(request.headers)
      headers.delete(PRINCIPAL_HEADER)
      if (authenticate !== undefined) {
        let principal: TPrincipal | null | undefined | false
        try {
          principal = await authenticate(request, env)
        } catch (cause) {
          onError(new EventwireError('ERR_UNAUTHORIZED', 'authenticate refused an upgrade', { cause }))
          principal = undefined
        }
        if (principal === false || principal === null || principal === undefined) {
          return refusal(CLOSE_UNAUTHORIZED, 'Unauthorized')
        }
        headers.set(PRINCIPAL_HEADER, encodePrincipal(principal))
      }
      const name = await room(request, env)
      if (name === undefined || name === '') return new Response('Not Found', { status: 404 })
      const rooms = namespace(env)
      return rooms.get(rooms.idFromName(name)).fetch(new Request(request.url, { method: 'GET', headers }))
    },
  }
}

/**
 * A refusal a browser can read: it cannot see the status of a refused upgrade, but it sees a close code.
 * The socket is opened in the Worker and closed at once; the object is never woken.
 */
function refusal(code: number, reason: string): Response {
  const [client, server] = createWebSocketPair()
  server.accept?.()
  server.close(code, reason)
  return upgradeResponse(client)
}
