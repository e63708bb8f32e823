/**
 * The control side of a receiving child process of bench/realistic.ts (Redis node B, the iroh spoke):
 * it answers the parent's `usage`, `counts` and `close` on the IPC channel, as the spokes' process does,
 * and reports errors there. The IPC channel carries commands and answers only, never data or
 * acknowledgements: those go over the path being measured.
 */
import { performance } from 'node:perf_hooks'
import type { FromSpokes, Receiver, ToSpokes } from './realistic-common.js'

export interface ReceivingChild {
  /** Reports an error to the parent, unless the child is closing. */
  fail(message: string): void
  /**
   * Answers the parent's questions about `receiver` from now on, and says `ready` once `ready` resolves.
   * `close` lets go of the child's connections before it disconnects.
   */
  serve(receiver: Receiver, ready: Promise<void>, close: () => Promise<void> | void): void
}

export function receivingChild(): ReceivingChild {
  const send = (message: FromSpokes) => process.send?.(message)
  let isClosing = false
  const fail = (message: string) => {
    if (!isClosing) send({ type: 'error', message })
  }
  // The parent is gone (or has let go): nothing left to do here.
  process.on('disconnect', () => process.exit(0))
  return {
    fail,
    serve: (receiver, ready, close) => {
      process.on('message', async (message: ToSpokes) => {
        try {
          switch (message.type) {
            case 'usage': {
              const { active, idle } = performance.eventLoopUtilization()
              const { user, system } = process.cpuUsage()
              send({ type: 'usage', active, idle, cpu: user + system })
              break
            }
            case 'counts':
              send({ type: 'counts', counts: [receiver.count], sent: 0 })
              break
            case 'close':
              isClosing = true
              await close()
              process.disconnect()
              break
            default:
              fail(`unexpected command ${message.type}`)
          }
        } catch (error) {
          fail(error instanceof Error ? error.message : String(error))
        }
      })
      ready.then(
        () => send({ type: 'ready' }),
        (error: unknown) => fail(`not ready: ${error instanceof Error ? error.message : String(error)}`),
      )
    },
  }
}
