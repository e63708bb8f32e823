// Runs inside a worker_threads worker (bundled to one .mjs by test/support/worker-node.ts). It owns one
// real worker target and obeys commands from the test thread on a control port that is separate from
// the transport under test; see worker-node.ts for the whole arrangement.

import { type MessagePort, parentPort, workerData } from 'node:worker_threads'
import type { EventwireError } from '../../../src/core/errors.js'
import { createWorkerEventTarget, type WorkerEventTarget } from '../../../src/event-target-worker/index.js'
import type { ControlCommand, ControlReply, WorkerSetup } from '../worker-node.js'

const setup = workerData as WorkerSetup
const control: MessagePort = setup.control
let target: WorkerEventTarget | undefined
let channel: BroadcastChannel | undefined
/** True while a dispatch ordered by the test thread runs: the proxy already delivered it locally. */
let isOrderedDispatch = false
const forwarders = new Map<string, (event: Event) => void>()

const post = (reply: ControlReply) => control.postMessage(reply)

function open(): WorkerEventTarget {
  const onError = (error: EventwireError) =>
    post({
      op: 'error',
      code: error.code,
      message: error.message,
      eventType: error.eventType,
      cause: error.cause instanceof Error ? error.cause.message : undefined,
    })
  switch (setup.endpoint) {
    case 'parent':
      return createWorkerEventTarget(parentPort!, { onError })
    case 'port':
      return createWorkerEventTarget(setup.port!, { onError })
    case 'broadcast':
      channel = new BroadcastChannel(setup.channelName!)
      return createWorkerEventTarget(channel, { onError })
  }
}

async function run(command: ControlCommand): Promise<unknown> {
  switch (command.op) {
    case 'open':
      target = open()
      await target.ready
      return undefined
    case 'add': {
      const forward = (event: Event) => {
        if (!isOrderedDispatch) post({ op: 'event', type: event.type, detail: (event as CustomEvent).detail })
      }
      forwarders.set(command.type, forward)
      target!.addEventListener(command.type, forward)
      return undefined
    }
    case 'remove':
      target!.removeEventListener(command.type, forwarders.get(command.type)!)
      forwarders.delete(command.type)
      return undefined
    case 'dispatch':
      isOrderedDispatch = true
      try {
        target!.dispatchEvent(new CustomEvent(command.type, { detail: command.detail }))
      } finally {
        isOrderedDispatch = false
      }
      return undefined
    case 'dispatch-uncloneable':
      // Three events in one task, the middle one carrying a function: one batch the link must split.
      for (const detail of ['before', () => 'not cloneable', 'after']) {
        target!.dispatchEvent(new CustomEvent(command.type, { detail }))
      }
      return undefined
    case 'post-raw':
      parentPort!.postMessage(command.value)
      return undefined
    case 'exit-after':
    case 'throw-after': {
      let seen = 0
      const { op, count } = command
      target!.addEventListener(command.type, () => {
        if (++seen < count) return
        if (op === 'exit-after') process.exit(3)
        // An uncaught exception, not a listener error (the registry would catch that one).
        setTimeout(() => {
          throw new Error('worker failure')
        })
      })
      return undefined
    }
    case 'flush':
      await target!.flush()
      return undefined
    case 'stats':
      return target!.stats()
    case 'close':
      await target?.close()
      channel?.close()
      return undefined
  }
}

control.on('message', (command: ControlCommand) => {
  const id = 'id' in command ? command.id : undefined
  run(command).then(
    (value) => id !== undefined && post({ op: 'done', id, value }),
    (error: unknown) => id !== undefined && post({ op: 'done', id, error: String(error) }),
  )
})
