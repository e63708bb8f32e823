import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import {
  type BiStream,
  type Connection,
  Endpoint,
  EndpointAddr,
  presetMinimal,
  RelayMode,
  SecretKey,
} from '@number0/iroh'
import { IROH_ALPN } from '../../src/event-target-iroh-hub/index.js'
import { waitFor } from '../../src/testing/index.js'
import { encodeLengthPrefixed, LengthPrefixedDecoder } from '../../src/transport/index.js'

const text = new TextEncoder()

export function alpnBytes(alpn = IROH_ALPN): number[] {
  return [...text.encode(alpn)]
}

export interface LoopbackEndpointOptions {
  /** ALPNs to accept (a hub's endpoint needs eventwire's). @default none: dial only */
  alpns?: string[]
  /** The identity; a restarted hub keeps its id by reusing it. @default a new key */
  secretKey?: SecretKey
  /** UDP port on 127.0.0.1; a restarted hub keeps its address by reusing it. @default any free port */
  port?: number
}

/**
 * Refuses to bind outside the loopback-only network namespace that `npm test` and `npm run bench` set
 * up (scripts/isolated.mjs): iroh's port mapper sends a UPnP discovery (SSDP multicast) on every bind,
 * the binding has no switch for it, and only that namespace keeps it on the machine.
 */
export function assertIsolated(): void {
  if (process.env.EVENTWIRE_NETNS !== '1') {
    throw new Error(
      'iroh endpoints bind only inside the loopback-only namespace: run through npm test / npm run bench',
    )
  }
}

/**
 * An endpoint for tests: the minimal preset (no relay, no discovery), relays disabled, bound to
 * 127.0.0.1, inside the loopback-only namespace (see `assertIsolated`).
 */
export async function bindLoopbackEndpoint(options: LoopbackEndpointOptions = {}): Promise<Endpoint> {
  assertIsolated()
  const builder = Endpoint.builder()
  presetMinimal(builder)
  builder.relayMode(RelayMode.disabled())
  builder.bindAddr(`127.0.0.1:${options.port ?? 0}`)
  if (options.alpns !== undefined) builder.alpns(options.alpns.map((alpn) => alpnBytes(alpn)))
  if (options.secretKey !== undefined) builder.secretKey(options.secretKey.toBytes())
  return builder.bind()
}

/** A hub's endpoint: eventwire's ALPN on loopback. */
export function bindHubEndpoint(options: Omit<LoopbackEndpointOptions, 'alpns'> = {}): Promise<Endpoint> {
  return bindLoopbackEndpoint({ ...options, alpns: [IROH_ALPN] })
}

/**
 * A hub endpoint on the port (and key) a closed one used, as a restarted hub process would bind. The
 * binding frees a closed endpoint's UDP socket only once its JS object is garbage-collected, so this
 * collects garbage until the port is free: the old endpoint must no longer be referenced.
 */
export async function rebindHubEndpoint(options: { secretKey: SecretKey; port: number }): Promise<Endpoint> {
  setFlagsFromString('--expose-gc')
  const collectGarbage = runInNewContext('gc') as () => void
  const endpoint = await waitFor(
    async () => {
      collectGarbage()
      await new Promise((resolve) => setImmediate(resolve))
      return bindHubEndpoint(options).catch(() => undefined)
    },
    { timeoutMs: 10_000, intervalMs: 20, message: `port ${options.port} free again` },
  )
  return endpoint!
}

/** The endpoint's id with its 127.0.0.1 address: dialable with no discovery at all. */
export function loopbackAddr(endpoint: Endpoint): EndpointAddr {
  const direct = endpoint.boundSockets().filter((socket) => socket.startsWith('127.0.0.1:'))
  return new EndpointAddr(endpoint.id(), null, direct)
}

/** The UDP port an endpoint listens on at 127.0.0.1. */
export function loopbackPort(endpoint: Endpoint): number {
  const socket = endpoint.boundSockets().find((address) => address.startsWith('127.0.0.1:'))
  if (socket === undefined) throw new Error('endpoint has no 127.0.0.1 socket')
  return Number(socket.slice('127.0.0.1:'.length))
}

export function newSecretKey(): SecretKey {
  return SecretKey.generate()
}

/**
 * A raw client on a hub: its own endpoint, one stream, and whatever the test writes on it. It records the
 * frames the hub sends (batches unpacked) and how the connection ended.
 */
export async function openRawStream(hub: Endpoint, alpn = IROH_ALPN) {
  const endpoint = await bindLoopbackEndpoint()
  const connection: Connection = await endpoint.connect(loopbackAddr(hub), alpnBytes(alpn))
  const stream: BiStream = await connection.openBi()
  const send = stream.send
  const recv = stream.recv
  const frames: unknown[] = []
  let ended: string | undefined
  let closedReason: string | undefined
  void connection.closed().then((reason) => {
    closedReason = reason
  })
  let isPaused = false
  let resume: (() => void) | undefined
  const decoder = new LengthPrefixedDecoder(1 << 30)
  const reading = (async () => {
    try {
      for (;;) {
        if (isPaused) await new Promise<void>((resolve) => (resume = resolve))
        const data = await recv.read(64 * 1024)
        if (data.length === 0) {
          ended = 'finished'
          return
        }
        decoder.push(new Uint8Array(data), (payload) => {
          const frame = JSON.parse(new TextDecoder().decode(payload)) as unknown[]
          if (frame[0] === 4) frames.push(...frame.slice(1))
          else frames.push(frame)
        })
      }
    } catch (error) {
      ended = (error as Error).message.split('\n')[0]
    }
  })()
  return {
    endpoint,
    connection,
    frames,
    /** How the stream ended: 'finished', or the binding's error (which carries the close code). */
    ended: () => ended,
    /** The connection's close as the binding words it, e.g. `closed by peer: overflow (code 1013)`. */
    closedReason: () => closedReason,
    /** Writes bytes as they are (no framing). */
    writeRaw: (bytes: Uint8Array | number[]) => send.writeAll([...bytes]),
    /** Writes one text frame, length-prefixed. */
    writeFrame: (frame: string) => send.writeAll([...encodeLengthPrefixed(text.encode(frame))]),
    finish: () => send.finish(),
    /** Stops reading (after the read in progress), as a stalled consumer would. */
    pause: () => {
      isPaused = true
    },
    /** Reads again after `pause()`. */
    resume: () => {
      isPaused = false
      resume?.()
      resume = undefined
    },
    close: async () => {
      await endpoint.close()
      isPaused = false
      resume?.()
      await reading
    },
  }
}

/**
 * A spoke's endpoint that remembers the connection it dialed last, so a test can break it the way a
 * network fault would: closed under the spoke, which sent no bye and did not ask for it.
 */
export function recordingEndpoint(endpoint: Endpoint): {
  endpoint: Endpoint
  latest: () => Connection | undefined
} {
  let latest: Connection | undefined
  const recording = new Proxy(endpoint, {
    get(target, property) {
      if (property === 'connect') {
        return async (...args: Parameters<Endpoint['connect']>) => {
          const connection = await target.connect(...args)
          latest = connection
          return connection
        }
      }
      const value = Reflect.get(target, property, target) as unknown
      return typeof value === 'function' ? value.bind(target) : value
    },
  })
  return { endpoint: recording, latest: () => latest }
}
