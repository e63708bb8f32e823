import { EventwireError } from './errors.js'
import { encodeError } from './frame.js'
import {
  CLOSE_NORMAL,
  CLOSE_PROTOCOL_ERROR,
  CLOSE_TOO_LARGE,
  type Link,
  type LinkCloseInfo,
  messageText,
} from './link.js'

/**
 * Length-prefixed frames for byte streams (a QUIC stream, a TCP socket), where nothing marks where one
 * message ends. Each protocol message (docs/protocol.md: one frame or one batch) travels as
 *
 *   header   4 bytes, big-endian: bit 31 set when the payload is compressed (deflate-raw, RFC 1951),
 *            bits 0–30 the payload's length in bytes
 *   payload  the message as UTF-8, or its deflate-raw compression
 *
 * The envelope is the stream's business and its content the protocol's: a bad envelope (a length above
 * `maxFrameBytes`, a stream that ends inside a frame, a payload that does not inflate) closes the stream,
 * while a well-framed message with bad content goes to the Hub or Spoke, which refuses it as usual.
 */

/** Bytes of the header in front of every payload. */
export const LENGTH_PREFIX_BYTES = 4
/** Header bit set when the payload is compressed. */
export const COMPRESSED_FLAG = 0x8000_0000
/** Longest payload a header can describe. */
export const MAX_LENGTH_PREFIXED_PAYLOAD = 0x7fff_ffff

/** Header plus payload, ready to write. */
export function encodeLengthPrefixed(payload: Uint8Array, isCompressed = false): Uint8Array {
  if (payload.length > MAX_LENGTH_PREFIXED_PAYLOAD) {
    throw new EventwireError('ERR_FRAME_TOO_LARGE', `a payload of ${payload.length} bytes cannot be framed`)
  }
  const frame = new Uint8Array(LENGTH_PREFIX_BYTES + payload.length)
  const header = (isCompressed ? COMPRESSED_FLAG : 0) + payload.length
  frame[0] = header >>> 24
  frame[1] = (header >>> 16) & 0xff
  frame[2] = (header >>> 8) & 0xff
  frame[3] = header & 0xff
  frame.set(payload, LENGTH_PREFIX_BYTES)
  return frame
}

/** Receives each complete payload; it may be a view into the chunk given to `push`. */
export type LengthPrefixedFrameHandler = (payload: Uint8Array, isCompressed: boolean) => void

/**
 * Cuts a byte stream into payloads, whatever the chunking: a frame split across reads, several frames in
 * one read. Never throws. A length above `maxFrameBytes` is refused as soon as its header is read, before
 * anything is allocated for it; a partial frame only ever holds the bytes that actually arrived.
 */
export class LengthPrefixedDecoder {
  readonly #maxFrameBytes: number
  /** Header bytes read so far (0–3 while reading a header). */
  #headerBytes = 0
  #header = 0
  /** Payload length of the frame being read; -1 while reading a header. */
  #length = -1
  #isCompressed = false
  #parts: Uint8Array[] = []
  #partBytes = 0
  #error: EventwireError | undefined

  constructor(maxFrameBytes: number) {
    this.#maxFrameBytes = maxFrameBytes
  }

  /**
   * Feeds the next chunk; calls `onFrame` for each payload it completes, in order. Returns an error when
   * the stream is invalid; the decoder then refuses everything after.
   */
  push(chunk: Uint8Array, onFrame: LengthPrefixedFrameHandler): EventwireError | undefined {
    if (this.#error !== undefined) return this.#error
    const end = chunk.length
    let offset = 0
    while (offset < end) {
      if (this.#length < 0) {
        // Fast path: a whole header in this chunk.
        if (this.#headerBytes === 0 && end - offset >= LENGTH_PREFIX_BYTES) {
          this.#header =
            chunk[offset]! * 0x100_0000 +
            (chunk[offset + 1]! << 16) +
            (chunk[offset + 2]! << 8) +
            chunk[offset + 3]!
          offset += LENGTH_PREFIX_BYTES
        } else {
          while (this.#headerBytes < LENGTH_PREFIX_BYTES && offset < end) {
            this.#header = this.#header * 256 + chunk[offset++]!
            this.#headerBytes++
          }
          if (this.#headerBytes < LENGTH_PREFIX_BYTES) return undefined
        }
        this.#headerBytes = 0
        this.#isCompressed = this.#header >= COMPRESSED_FLAG
        const length = this.#isCompressed ? this.#header - COMPRESSED_FLAG : this.#header
        this.#header = 0
        if (length > this.#maxFrameBytes) {
          this.#error = new EventwireError(
            'ERR_FRAME_TOO_LARGE',
            `frame of ${length} bytes exceeds maxFrameBytes (${this.#maxFrameBytes})`,
          )
          return this.#error
        }
        this.#length = length
      }
      const missing = this.#length - this.#partBytes
      if (this.#partBytes === 0 && end - offset >= missing) {
        // Fast path: the whole payload in this chunk, handed over without a copy.
        this.#length = -1
        onFrame(chunk.subarray(offset, offset + missing), this.#isCompressed)
        offset += missing
        continue
      }
      const take = Math.min(missing, end - offset)
      this.#parts.push(chunk.slice(offset, offset + take))
      this.#partBytes += take
      offset += take
      if (this.#partBytes === this.#length) onFrame(this.#assemble(), this.#isCompressed)
    }
    return undefined
  }

  /** The stream ended: an error if it ended inside a frame. */
  end(): EventwireError | undefined {
    if (this.#error !== undefined) return this.#error
    if (this.#headerBytes === 0 && this.#length < 0) return undefined
    const what =
      this.#length < 0
        ? `${this.#headerBytes} of ${LENGTH_PREFIX_BYTES} header bytes`
        : `${this.#partBytes} of ${this.#length} payload bytes`
    this.#error = new EventwireError('ERR_FRAME_MALFORMED', `the stream ended inside a frame (${what})`)
    return this.#error
  }

  /** Bytes held for a frame not yet complete. */
  get bufferedBytes(): number {
    return this.#headerBytes + this.#partBytes
  }

  #assemble(): Uint8Array {
    const payload = concat(this.#parts, this.#partBytes)
    this.#parts = []
    this.#partBytes = 0
    this.#length = -1
    return payload
  }
}

/** The byte stream under a length-prefixed link, supplied by the transport. */
export interface ByteStream {
  /**
   * Writes bytes; resolves once the stream has taken them (not when the peer has them). The link calls it
   * again only after the previous write settled, so a binding that does not order concurrent writes is
   * safe.
   */
  write(bytes: Uint8Array): Promise<void>
  /** The next bytes read, or `null` once the peer finished its side. Rejects when the connection is lost. */
  read(): Promise<Uint8Array | null>
  /** Ends the writing side after everything written and waits until the peer has it. */
  finish(): Promise<void>
  /** Closes the connection now; idempotent. */
  close(code: number, reason: string): void
  /** How a rejected `read` or `write` reads as a close (a code the peer sent, or an error). */
  closeInfo?(error: unknown): LinkCloseInfo
}

/** Who hears what a length-prefixed link reads (a `HubConnection` or a spoke's link handlers). */
export interface LengthPrefixedReceiver {
  receive(data: unknown): void
  closed(info?: LinkCloseInfo): void
  drained(): void
}

export interface LengthPrefixedLinkOptions {
  /** Largest payload accepted or sent, in bytes, before and after decompression. */
  maxFrameBytes: number
  /** Compresses a payload with deflate-raw; without it nothing is compressed. */
  compress?: (payload: Uint8Array) => Uint8Array
  /**
   * Inflates a deflate-raw payload to at most `maxBytes`, throwing `ERR_FRAME_TOO_LARGE` past that; without
   * it a compressed frame closes the stream as malformed.
   */
  decompress?: (payload: Uint8Array, maxBytes: number) => Uint8Array
  /** Payloads at least this long are compressed (when `compress` is given). @default 512 */
  compressMinBytes?: number
  /** Hears each envelope error (oversized, truncated, not inflatable) before the stream is closed. */
  onInvalid?: (error: EventwireError) => void
  /** How long `close` waits for queued writes to reach the peer before closing anyway, in ms. @default 2_000 */
  closeTimeoutMs?: number
}

/** A link over a byte stream; `start` begins reading once the receiver exists. */
export interface LengthPrefixedLink extends Link<string> {
  /** Reads until the stream ends, handing each message to `receiver`; `receiver.closed` is called once. */
  start(receiver: LengthPrefixedReceiver): void
  /** Resolves once the link is closed and its connection released. */
  readonly closed: Promise<void>
}

/**
 * Turns a byte stream into a `Link<string>`. Writes: each `send` (the link writer's per-tick batch) becomes
 * one frame; while a write is in flight, later frames wait and leave together as the next single write.
 * `bufferedBytes` counts the bytes handed to the stream whose write has not resolved plus those waiting,
 * so the overflow policy sees a stalled peer. Reads: chunks are cut into frames, inflated if compressed,
 * and handed over as text.
 */
export function createLengthPrefixedLink(
  stream: ByteStream,
  options: LengthPrefixedLinkOptions,
): LengthPrefixedLink {
  return new StreamLink(stream, options)
}

const DEFAULT_COMPRESS_MIN_BYTES = 512
const DEFAULT_CLOSE_TIMEOUT_MS = 2_000
const utf8 = new TextEncoder()

class StreamLink implements LengthPrefixedLink {
  readonly closed: Promise<void>
  readonly #stream: ByteStream
  readonly #options: LengthPrefixedLinkOptions
  readonly #compressMinBytes: number
  readonly #decoder: LengthPrefixedDecoder
  #receiver: LengthPrefixedReceiver | undefined
  #queue: Uint8Array[] = []
  #queuedBytes = 0
  #inflightBytes = 0
  #isWriting = false
  #idleWaiters: Array<() => void> = []
  /** No more sends or deliveries: closing or closed. */
  #isClosing = false
  #isDone = false
  #closeInfo: LinkCloseInfo | undefined
  #resolveClosed!: () => void

  constructor(stream: ByteStream, options: LengthPrefixedLinkOptions) {
    this.#stream = stream
    this.#options = options
    this.#compressMinBytes = options.compressMinBytes ?? DEFAULT_COMPRESS_MIN_BYTES
    this.#decoder = new LengthPrefixedDecoder(options.maxFrameBytes)
    this.closed = new Promise((resolve) => {
      this.#resolveClosed = resolve
    })
  }

  send(data: string): void {
    if (this.#isClosing) return
    const text = utf8.encode(data)
    if (text.length > this.#options.maxFrameBytes) {
      // Thrown so the link writer retries frame by frame and reports only the oversized event.
      throw new EventwireError(
        'ERR_FRAME_TOO_LARGE',
        `a message of ${text.length} bytes exceeds maxFrameBytes (${this.#options.maxFrameBytes})`,
      )
    }
    let payload: Uint8Array = text
    let isCompressed = false
    const compress = this.#options.compress
    if (compress !== undefined && text.length >= this.#compressMinBytes) {
      const compressed = compress(text)
      if (compressed.length < text.length) {
        payload = compressed
        isCompressed = true
      }
    }
    const frame = encodeLengthPrefixed(payload, isCompressed)
    this.#queue.push(frame)
    this.#queuedBytes += frame.length
    if (!this.#isWriting) this.#pump().catch((error: unknown) => this.#lost(error))
  }

  bufferedBytes(): number {
    return this.#inflightBytes + this.#queuedBytes
  }

  close(code: number, reason: string): void {
    if (this.#isClosing) return
    this.#isClosing = true
    this.#closeInfo ??= { code, reason }
    void this.#shutdown(code, reason)
  }

  start(receiver: LengthPrefixedReceiver): void {
    this.#receiver = receiver
    // A throw here would be a bug in the receiver: it ends the link rather than escaping as a rejection.
    this.#readLoop().catch((error: unknown) => this.#lost(error))
  }

  /** One write in flight; whatever queued meanwhile leaves as the next single write. */
  async #pump(): Promise<void> {
    this.#isWriting = true
    try {
      while (this.#queue.length > 0) {
        const bytes = this.#queue.length === 1 ? this.#queue[0]! : concat(this.#queue, this.#queuedBytes)
        this.#inflightBytes = this.#queuedBytes
        this.#queue = []
        this.#queuedBytes = 0
        await this.#stream.write(bytes)
        this.#inflightBytes = 0
      }
    } catch (error) {
      this.#inflightBytes = 0
      this.#queue = []
      this.#queuedBytes = 0
      this.#lost(error)
    } finally {
      this.#isWriting = false
      for (const resolve of this.#idleWaiters.splice(0)) resolve()
    }
    if (!this.#isClosing) this.#receiver?.drained()
  }

  #whenIdle(): Promise<void> {
    if (!this.#isWriting) return Promise.resolve()
    return new Promise((resolve) => this.#idleWaiters.push(resolve))
  }

  /** Lets queued writes reach the peer (bounded by `closeTimeoutMs`), then closes the connection. */
  async #shutdown(code: number, reason: string): Promise<void> {
    const graceful = this.#whenIdle().then(() => this.#stream.finish())
    graceful.catch(() => {}) // a stream already gone has nothing left to finish
    let timer: ReturnType<typeof setTimeout> | undefined
    const timeout = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, this.#options.closeTimeoutMs ?? DEFAULT_CLOSE_TIMEOUT_MS)
      ;(timer as { unref?: () => void }).unref?.()
    })
    try {
      await Promise.race([graceful, timeout])
    } catch {
      // The connection is going away anyway.
    } finally {
      clearTimeout(timer)
    }
    this.#stream.close(code, reason)
    this.#end({ code, reason })
  }

  async #readLoop(): Promise<void> {
    for (;;) {
      let chunk: Uint8Array | null
      try {
        chunk = await this.#stream.read()
      } catch (error) {
        this.#lost(error)
        return
      }
      if (this.#isClosing) return
      if (chunk === null) {
        const error = this.#decoder.end()
        if (error !== undefined) this.#invalid(error)
        else this.close(CLOSE_NORMAL, 'stream finished')
        return
      }
      const error = this.#decoder.push(chunk, this.#onFrame)
      if (error !== undefined) {
        this.#invalid(error)
        return
      }
    }
  }

  readonly #onFrame = (payload: Uint8Array, isCompressed: boolean): void => {
    if (this.#isClosing) return
    let bytes = payload
    if (isCompressed) {
      const inflated = this.#inflate(payload)
      if (inflated === undefined) return
      bytes = inflated
    }
    // Invalid UTF-8 becomes `undefined`, which the receiver refuses as a malformed frame.
    this.#receiver?.receive(messageText(bytes))
  }

  #inflate(payload: Uint8Array): Uint8Array | undefined {
    const { decompress, maxFrameBytes } = this.#options
    if (decompress === undefined) {
      this.#invalid(new EventwireError('ERR_FRAME_MALFORMED', 'a compressed frame, but no decompressor'))
      return undefined
    }
    try {
      return decompress(payload, maxFrameBytes)
    } catch (cause) {
      this.#invalid(
        cause instanceof EventwireError && cause.code === 'ERR_FRAME_TOO_LARGE'
          ? cause
          : new EventwireError('ERR_FRAME_MALFORMED', 'a compressed frame does not inflate', { cause }),
      )
      return undefined
    }
  }

  /** A bad envelope: report it, tell the peer why (as the hub does for refused frames), close. */
  #invalid(error: EventwireError): void {
    if (this.#isClosing) return
    this.#options.onInvalid?.(error)
    this.send(encodeError(error.code, error.message))
    const code = error.code === 'ERR_FRAME_TOO_LARGE' ? CLOSE_TOO_LARGE : CLOSE_PROTOCOL_ERROR
    this.#closeInfo = { code, reason: error.code, error }
    this.close(code, error.code)
  }

  /** The connection failed under a read or a write. */
  #lost(error: unknown): void {
    if (this.#isDone) return
    const info: LinkCloseInfo = this.#stream.closeInfo?.(error) ?? {
      error: new EventwireError('ERR_CONNECTION', 'the stream failed', { cause: error }),
    }
    this.#isClosing = true
    this.#stream.close(info.code ?? CLOSE_NORMAL, info.reason ?? '')
    this.#end(info)
  }

  #end(info: LinkCloseInfo): void {
    if (this.#isDone) return
    this.#isDone = true
    this.#isClosing = true
    this.#queue = []
    this.#queuedBytes = 0
    this.#receiver?.closed(this.#closeInfo ?? info)
    this.#resolveClosed()
  }
}

function concat(chunks: readonly Uint8Array[], total: number): Uint8Array {
  const out = new Uint8Array(total)
  let offset = 0
  for (const chunk of chunks) {
    out.set(chunk, offset)
    offset += chunk.length
  }
  return out
}
