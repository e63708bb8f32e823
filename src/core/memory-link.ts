import type { Hub, HubConnection } from './hub.js'
import type { Link, LinkCloseInfo } from './link.js'
import type { SpokeConnector, SpokeLinkHandlers } from './spoke.js'
import type { TypedEvent } from './types.js'

const later: (callback: () => void) => void =
  typeof globalThis.setImmediate === 'function'
    ? globalThis.setImmediate
    : (callback) => setTimeout(callback, 0)

export interface MemoryConnector<W = string> {
  /** Pass as a spoke's `connect`. */
  connect: SpokeConnector<W>
  /** Cuts every link this connector opened, as a network failure would (both sides see it closed). */
  sever(): void
  /** Links currently open. */
  readonly openLinks: number
}

/**
 * Links a spoke to a hub in the same process. Each message crosses asynchronously (one macrotask, in
 * order), like a network hop, so the hub and spoke logic are exercised exactly as over a socket. Messages
 * are handed over as they are: with the clone codec, frame arrays are shared, not copied.
 */
export function createMemoryConnector<W = string>(
  hub: Hub<TypedEvent, W>,
  options: { principal?: unknown } = {},
): MemoryConnector<W> {
  const severs = new Set<() => void>()
  const connect: SpokeConnector<W> = (handlers) => {
    let isOpen = true
    let isDelivering = true
    const hubSide: HubConnection = hub.accept(
      {
        send: (data) => {
          if (isOpen) later(() => isDelivering && handlers.receive(data))
        },
        close: (code, reason) => shut({ code, reason }),
      },
      { principal: options.principal },
    )
    // Frames already in flight arrive before the close, as on a socket.
    const shut = (info: LinkCloseInfo) => {
      if (!isOpen) return
      isOpen = false
      severs.delete(sever)
      later(() => {
        isDelivering = false
        hubSide.closed(info)
        handlers.closed(info)
      })
    }
    const sever = () => shut({ code: 1006, reason: 'severed' })
    severs.add(sever)
    const spokeLink: Link<W> = {
      send: (data) => {
        if (isOpen) later(() => isDelivering && hubSide.receive(data))
      },
      close: (code, reason) => shut({ code, reason }),
    }
    return spokeLink
  }
  return {
    connect,
    sever: () => {
      for (const sever of [...severs]) sever()
    },
    get openLinks() {
      return severs.size
    },
  }
}

export interface MemoryPair<W = string> {
  /** Pass as one peer's `connect`. */
  a: SpokeConnector<W>
  /** Pass as the other peer's `connect`. */
  b: SpokeConnector<W>
  /** Cuts the link, as a network failure would (both sides see it closed). */
  sever(): void
}

/**
 * Links two peers (spokes with `peer: true`) directly, like the two ends of a MessagePort: the link opens
 * once both sides have dialed, and each message crosses one macrotask, in order.
 */
export function createMemoryPair<W = string>(): MemoryPair<W> {
  type Side = { handlers: SpokeLinkHandlers; open: (link: Link<W>) => void }
  let waiting: Side | undefined
  let shutCurrent: (() => void) | undefined
  const dial: SpokeConnector<W> = (handlers) =>
    new Promise<Link<W>>((open) => {
      const side: Side = { handlers, open }
      if (waiting === undefined) {
        waiting = side
        return
      }
      const first = waiting
      waiting = undefined
      let isOpen = true
      let isDelivering = true
      const shut = (info: LinkCloseInfo) => {
        if (!isOpen) return
        isOpen = false
        later(() => {
          isDelivering = false
          first.handlers.closed(info)
          side.handlers.closed(info)
        })
      }
      const linkTo = (to: Side): Link<W> => ({
        send: (data) => {
          if (isOpen) later(() => isDelivering && to.handlers.receive(data))
        },
        close: (code, reason) => shut({ code, reason }),
      })
      shutCurrent = () => shut({ code: 1006, reason: 'severed' })
      first.open(linkTo(side))
      side.open(linkTo(first))
    })
  return { a: dial, b: dial, sever: () => shutCurrent?.() }
}
