import { EventwireError } from '../core/errors.js'
import { encodePing, encodePong, HEARTBEAT_PING_ID } from '../core/frame.js'
import {
  Hub,
  type HubConnection,
  type HubConnectionInfo,
  type HubOptions,
  type WhenSubscribedOptions,
} from '../core/hub.js'
import { CLOSE_POLICY_VIOLATION, closeWebSocket, type Link, messageText } from '../core/link.js'
import { readOptionsObject } from '../core/options.js'
import type { EventwireStats, NetworkEventTarget, TypedEvent, TypedEventTarget } from '../core/types.js'
import { type LinkRecord, MAX_ATTACHMENT_BYTES, readRecord, storedRecord } from './attachment.js'
import {
  autoResponsePair,
  createWebSocketPair,
  type DurableObjectStateLike,
  type HibernatableWebSocket,
  isWebSocketUpgrade,
  upgradeResponse,
} from './platform.js'
import { readPrincipal } from './principal-header.js'

/**
 * Options of the Durable Object hub: those of every hub, less `idleTimeoutMs` (a timer would keep the
 * object from hibernating; see docs/durable-object.md) and `codec` (sockets carry JSON text).
 */
export interface DurableObjectEventTargetOptions<TPrincipal = unknown, TEvent extends TypedEvent = TypedEvent>
  // No `history` yet: links adopted after hibernation would lose their positions, and a store in memory
  // does not survive eviction (docs/recovery.md).
  extends Omit<HubOptions<string, TPrincipal, TEvent>, 'codec' | 'idleTimeoutMs' | 'history'> {
  /**
   * Lets the runtime answer the spokes' heartbeat pings (`[6,0]`) itself, so that a ping does not wake a
   * hibernating object. Set it to false when the object registers an auto-response of its own: the
   * runtime keeps one per object.
   * @default true
   */
  autoResponse?: boolean
}

/**
 * A hub living in a Durable Object. Hand it the object's upgrade requests (`fetch`) and its hibernation
 * handlers (`webSocketMessage`, `webSocketClose`, `webSocketError`); it is a target like any other hub.
 */
export interface DurableObjectEventTarget<TEvent extends TypedEvent = TypedEvent, TPrincipal = unknown>
  extends NetworkEventTarget<TEvent> {
  /**
   * Origin id of the events dispatched here: made from the object's id, so it stays the same across
   * hibernation, and short (12 characters), since every event frame carries it.
   */
  readonly nodeId: string
  /**
   * Accepts a WebSocket upgrade that the Worker in front forwarded (with the principal its `authenticate`
   * produced, see `createDurableObjectGateway`): answers 101 and takes the socket into the hub. Anything
   * else is answered with 426.
   */
  fetch(request: Request): Response
  /** Call from the object's `webSocketMessage`. */
  webSocketMessage(socket: HibernatableWebSocket, message: string | ArrayBuffer): void
  /** Call from the object's `webSocketClose`. */
  webSocketClose(socket: HibernatableWebSocket, code: number, reason: string, wasClean?: boolean): void
  /** Call from the object's `webSocketError`. */
  webSocketError(socket: HibernatableWebSocket, error: unknown): void
  /** One spoke as a target: dispatch to it alone, hear what it publishes. */
  connectionTarget(id: string): TypedEventTarget<TEvent> | undefined
  /** The types some spoke currently subscribes to. */
  remoteTypes(): string[]
  /** The open connections with their principals, those taken back after hibernation included. */
  connections(): HubConnectionInfo<TPrincipal>[]
  /** Resolves once at least `count` spokes subscribe to `type`; see the WebSocket hub. */
  whenSubscribed(type: string, options?: WhenSubscribedOptions): Promise<void>
}

/**
 * Makes the hub of a Durable Object; call it in the object's constructor. The sockets the object already
 * holds (it woke from hibernation) are taken back with the interest and principal their attachments kept,
 * without a new handshake.
 */
export function createDurableObjectEventTarget<TEvent extends TypedEvent = TypedEvent, TPrincipal = unknown>(
  ctx: DurableObjectStateLike,
  options?: DurableObjectEventTargetOptions<TPrincipal, TEvent>,
): DurableObjectEventTarget<TEvent, TPrincipal> {
  return new DurableObjectHub<TEvent, TPrincipal>(ctx, options)
}

const OPEN = 1

/** What the hub holds per socket: its hub connection and the record its attachment keeps. */
interface Tracked {
  readonly socket: HibernatableWebSocket
  readonly connection: HubConnection
  record: LinkRecord
}

class DurableObjectHub<TEvent extends TypedEvent, TPrincipal>
  extends Hub<TEvent, string, TPrincipal>
  implements DurableObjectEventTarget<TEvent, TPrincipal>
{
  readonly #ctx: DurableObjectStateLike
  readonly #bySocket = new Map<HibernatableWebSocket, Tracked>()
  readonly #byId = new Map<string, Tracked>()
  #isRestored = false

  constructor(ctx: DurableObjectStateLike, options?: DurableObjectEventTargetOptions<TPrincipal, TEvent>) {
    const opts = readOptionsObject(options, 'createDurableObjectEventTarget')
    // No idle sweep: an interval keeps a Durable Object from hibernating.
    super({
      ...opts,
      idleTimeoutMs: 0,
      nodeId: opts.nodeId ?? objectNodeId(ctx.id.toString()),
      history: undefined,
    })
    this.#ctx = ctx
    if (opts.autoResponse !== false) {
      const pair = autoResponsePair(encodePing(HEARTBEAT_PING_ID), encodePong(HEARTBEAT_PING_ID))
      if (pair !== undefined) ctx.setWebSocketAutoResponse?.(pair)
    }
    // Taking the sockets back runs `onConnection`, which usually reaches the hub through the variable
    // this constructor's caller is assigning: it waits for the first use of the hub, or the next microtask.
    queueMicrotask(() => this.#restoreAll())
  }

  override dispatchEvent(event: TEvent): boolean {
    this.#restoreAll()
    return super.dispatchEvent(event)
  }

  override stats(): EventwireStats {
    this.#restoreAll()
    return super.stats()
  }

  override remoteTypes(): string[] {
    this.#restoreAll()
    return super.remoteTypes()
  }

  override connectionTarget(id: string): TypedEventTarget<TEvent> | undefined {
    this.#restoreAll()
    return super.connectionTarget(id)
  }

  override whenSubscribed(type: string, options?: WhenSubscribedOptions): Promise<void> {
    this.#restoreAll()
    return super.whenSubscribed(type, options)
  }

  connections(): HubConnectionInfo<TPrincipal>[] {
    this.#restoreAll()
    this.#prune()
    return [...this.#byId.values()].map((tracked) => tracked.connection.info as HubConnectionInfo<TPrincipal>)
  }

  fetch(request: Request): Response {
    if (!isWebSocketUpgrade(request)) return new Response('Upgrade Required', { status: 426 })
    // Restored links keep their ids: take them back before a new link is given one.
    this.#restoreAll()
    if (this.isClosed) return new Response('Service Unavailable', { status: 503 })
    const reading = readPrincipal(request)
    if (!reading.ok) return new Response('Bad Request', { status: 400 })
    this.#prune()
    const [client, server] = createWebSocketPair()
    // The longest id a link may get stands in for its own: whether the principal fits is known first.
    const record = { id: '9'.repeat(16), principal: reading.principal, greeted: true, runs: true, types: [] }
    if (!fits(server, record)) {
      this.report(
        new EventwireError(
          'ERR_LIMIT',
          `a principal does not fit in a socket attachment (${MAX_ATTACHMENT_BYTES} bytes): connection refused`,
        ),
      )
      // Accepted outside the hub and closed at once, as the gateway refuses: the client reads the code.
      server.accept?.()
      closeWebSocket(server, CLOSE_POLICY_VIOLATION, 'principal too large')
      return upgradeResponse(client)
    }
    this.#ctx.acceptWebSocket(server)
    const connection = this.accept(socketLink(server), { principal: reading.principal as TPrincipal })
    if (this.#isOpen(connection))
      this.#track(server, connection, { ...record, id: connection.info.id, greeted: false, runs: false })
    return upgradeResponse(client)
  }

  webSocketMessage(socket: HibernatableWebSocket, message: string | ArrayBuffer): void {
    const tracked = this.#tracked(socket)
    if (tracked === undefined) return
    tracked.connection.receive(messageText(message))
    if (tracked.record.greeted || !this.#isOpen(tracked.connection)) return
    const state = this.linkState(tracked.connection as HubConnection<TPrincipal>)
    // The hello arrived: from now on the link is adopted as it is when the object wakes.
    if (state.greeted) this.#store(tracked, { ...tracked.record, greeted: true, runs: state.runs })
  }

  webSocketClose(socket: HibernatableWebSocket, code: number, reason: string): void {
    const tracked = this.#tracked(socket)
    this.#forget(socket)
    tracked?.connection.closed({ code, reason })
    // Completes the closing handshake; 1005 and 1006 cannot be sent, and closeWebSocket then sends none.
    closeWebSocket(socket, code, reason)
  }

  webSocketError(socket: HibernatableWebSocket, error: unknown): void {
    const tracked = this.#tracked(socket)
    this.#forget(socket)
    tracked?.connection.closed({
      error: new EventwireError('ERR_CONNECTION', 'socket error', { cause: error }),
    })
  }

  protected override interestChanging(
    connection: HubConnection<TPrincipal>,
    types: ReadonlySet<string>,
    type: string,
    isInterested: boolean,
  ): EventwireError | undefined {
    const tracked = this.#byId.get(connection.info.id)
    // A link being adopted: its record is written once it is.
    if (tracked === undefined) return undefined
    const next = isInterested ? [...types, type] : [...types].filter((known) => known !== type)
    if (this.#store(tracked, { ...tracked.record, types: next }) || !isInterested) return undefined
    return new EventwireError(
      'ERR_LIMIT',
      `the subscriptions of connection ${connection.info.id} do not fit in its socket attachment (${MAX_ATTACHMENT_BYTES} bytes)`,
      { eventType: type },
    )
  }

  /**
   * The socket's hub connection; a socket this instance has not seen yet is restored from its record. The
   * runtime hands the handlers the same socket objects as `getWebSockets()` (the hibernation test would
   * see a connection twice otherwise).
   */
  #tracked(socket: HibernatableWebSocket): Tracked | undefined {
    this.#restoreAll()
    return this.#bySocket.get(socket) ?? this.#restore(socket)
  }

  /** Takes back, once, every socket the object held when this instance was made. */
  #restoreAll(): void {
    if (this.#isRestored) return
    this.#isRestored = true
    for (const socket of this.#ctx.getWebSockets()) if (!this.#bySocket.has(socket)) this.#restore(socket)
  }

  /**
   * Takes back a socket the object held before it hibernated: adopted with its interest and principal if
   * its hello had arrived, else accepted anew (its handshake goes on). A socket without a record of ours
   * is the application's own: left alone.
   */
  #restore(socket: HibernatableWebSocket): Tracked | undefined {
    const record = readRecord(socket.deserializeAttachment())
    if (record === undefined || socket.readyState !== OPEN) return undefined
    const link = socketLink(socket)
    const principal = record.principal as TPrincipal
    const connection = record.greeted
      ? this.adopt(link, { id: record.id, principal, types: record.types, runs: record.runs })
      : this.accept(link, { principal })
    const state = this.linkState(connection as HubConnection<TPrincipal>)
    if (!state.open) return undefined
    // Types refused now (the limits changed) are gone from the hub, and so from the record.
    const restored = { ...record, id: connection.info.id, types: [...state.types], runs: state.runs }
    this.#track(socket, connection, restored)
    return this.#bySocket.get(socket)
  }

  /** Starts tracking a socket; false (nothing tracked) when its record does not fit in the attachment. */
  #track(socket: HibernatableWebSocket, connection: HubConnection, record: LinkRecord): boolean {
    const tracked: Tracked = { socket, connection, record }
    if (!this.#store(tracked, record)) return false
    this.#bySocket.set(socket, tracked)
    this.#byId.set(connection.info.id, tracked)
    return true
  }

  /**
   * Forgets links the hub closed itself (a protocol error, an overflow) whose socket has not reported its
   * end yet: its close handler may never run when the peer is gone.
   */
  #prune(): void {
    if (this.#byId.size <= this.counters.connections) return
    for (const tracked of [...this.#byId.values()]) {
      if (!this.#isOpen(tracked.connection)) this.#forget(tracked.socket)
    }
  }

  #forget(socket: HibernatableWebSocket): void {
    const tracked = this.#bySocket.get(socket)
    if (tracked === undefined) return
    this.#bySocket.delete(socket)
    if (this.#byId.get(tracked.connection.info.id) === tracked) this.#byId.delete(tracked.connection.info.id)
  }

  /** Writes the record into the socket's attachment; false when the runtime refuses it (too large). */
  #store(tracked: Tracked, record: LinkRecord): boolean {
    try {
      tracked.socket.serializeAttachment(storedRecord(record))
    } catch {
      return false
    }
    tracked.record = record
    return true
  }

  #isOpen(connection: HubConnection): boolean {
    return this.linkState(connection as HubConnection<TPrincipal>).open
  }

  override async close(): Promise<void> {
    this.#restoreAll()
    await super.close()
    this.#bySocket.clear()
    this.#byId.clear()
  }
}

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'

/** The object's id (64 hex digits) folded into 12 characters: one node id per object, every time. */
function objectNodeId(id: string): string {
  const bytes = new Uint8Array(12)
  for (let i = 0; i < id.length; i++) bytes[i % 12] = (bytes[i % 12]! * 31 + id.charCodeAt(i)) & 63
  let nodeId = ''
  for (const byte of bytes) nodeId += ALPHABET[byte]
  return nodeId
}

/** Whether `record` fits in the socket's attachment (the runtime refuses a larger one). */
function fits(socket: HibernatableWebSocket, record: LinkRecord): boolean {
  try {
    socket.serializeAttachment(storedRecord(record))
    return true
  } catch {
    return false
  }
}

/** A link over a hibernatable socket. The runtime's socket has no `bufferedAmount` to report. */
function socketLink(socket: HibernatableWebSocket): Link {
  return {
    send: (data) => {
      if (socket.readyState !== OPEN) return
      try {
        socket.send(data)
      } catch {
        // Closing under us: its close handler reports the end.
      }
    },
    close: (code, reason) => closeWebSocket(socket, code, reason),
  }
}
