import type { Hub, HubConnection } from './hub.js'
import type { Link, LinkCloseInfo } from './link.js'
import type { SpokeConnector } from './spoke.js'
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
