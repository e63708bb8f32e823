/**
 * How many bridges an event has crossed. It travels with the event on the wire (the optional fifth
 * element of an event frame) and, inside a process, beside the event object, so that a cycle of bridges
 * is cut at a hop limit instead of storming.
 */
const hopsByEvent = new WeakMap<Event, number>()

export function eventHops(event: Event): number {
  return hopsByEvent.get(event) ?? 0
}

/** Records the hop count of an event (a no-op for 0) and returns the event. */
export function withHops<TEvent extends Event>(event: TEvent, hops: number): TEvent {
  if (hops > 0) hopsByEvent.set(event, hops)
  return event
}
