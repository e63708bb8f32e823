import type { Hub, HubConnection } from './hub.js'
import type { Link, LinkCloseInfo } from './link.js'
import type { SpokeConnector } from './spoke.js'

const later: (callback: () => void) => void =
  typeof globalThis.setImmediate === 'function'
    ? globalThis.setImmediate
    : (callback) => setTimeout(callback, 0)

export interface MemoryConnector {
  /** Pass as a spoke's `connect`. */
  connect: SpokeConnector
  /** Cuts every link this connector opened, as a network failure would (both sides see it closed). */
  sever(): void
  /** Links currently open. */
  readonly openLinks: number
}

/**
 * Links a spoke to a hub in the same process. Each message crosses asynchronously (one macrotask, in
 * order), like a network hop, so the hub and spoke logic are exercised exactly as over a socket.
 */
export function createMemoryConnector(hub: Hub, options: { principal?: unknown } = {}): MemoryConnector {
  const severs = new Set<() => void>()
  const connect: SpokeConnector = (handlers) => {
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
    const spokeLink: Link = {
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
