// One process: typed events and typed topics on the in-process target.
// Run: npx tsx examples/in-process.ts

import { createInProcessEventTarget } from '../src/event-target-in-process/index.js'
import { createEvent, createPubSub, type TypedEvent } from '../src/index.js'

type AppEvent = TypedEvent<'user:joined', { name: string }>
const events = createInProcessEventTarget<AppEvent>()
events.addEventListener('user:joined', (event) => console.log('joined:', event.detail.name))
events.dispatchEvent(createEvent('user:joined', { name: 'ada' }))

const pubsub = createPubSub<{ 'user:joined': [{ name: string }] }>({ eventTarget: events })
const joined = pubsub.subscribe('user:joined')
pubsub.publish('user:joined', { name: 'grace' })
console.log('via createPubSub:', (await joined.next()).value)
await joined.return()
await events.close()
