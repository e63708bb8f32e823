import { describe, expect, it } from 'vitest'
import { EventwireError } from '../../../src/core/errors.js'
import { ListenerRegistry } from '../../../src/core/registry.js'
import { createInProcessEventTarget } from '../../../src/event-target-in-process/index.js'

function setup() {
  const errors: EventwireError[] = []
  const interest: Array<[string, boolean]> = []
  const owner = {}
  const registry = new ListenerRegistry({
    owner,
    onListenerError: (error) => errors.push(error),
    onInterest: (type, isInterested) => interest.push([type, isInterested]),
  })
  return { registry, errors, interest, owner }
}

describe('ListenerRegistry', () => {
  it('calls listeners in insertion order with the owner as this', () => {
    const { registry, owner } = setup()
    const calls: unknown[] = []
    registry.add('t', function (this: unknown) {
      calls.push(['a', this === owner])
    })
    registry.add('t', () => calls.push('b'))
    expect(registry.deliver(new Event('t'))).toBe(2)
    expect(calls).toEqual([['a', true], 'b'])
  })

  it('ignores a duplicate add, but not the same function with another capture flag', () => {
    const { registry } = setup()
    let calls = 0
    const fn = () => calls++
    registry.add('t', fn)
    registry.add('t', fn, { once: true })
    registry.add('t', fn, true)
    registry.deliver(new Event('t'))
    expect(calls).toBe(2)
    registry.remove('t', fn, { capture: true })
    registry.deliver(new Event('t'))
    expect(calls).toBe(3)
  })

  it('reports interest on the first add and the last remove only', () => {
    const { registry, interest } = setup()
    const a = () => {}
    const b = () => {}
    registry.add('t', a)
    registry.add('t', b)
    registry.remove('t', a)
    registry.remove('t', a)
    registry.remove('t', b)
    registry.add('t', a)
    expect(interest).toEqual([
      ['t', true],
      ['t', false],
      ['t', true],
    ])
  })

  it('removes once listeners before calling them, so re-entrant dispatch does not call them again', () => {
    const { registry } = setup()
    let calls = 0
    registry.add(
      't',
      () => {
        calls++
        registry.deliver(new Event('t'))
      },
      { once: true },
    )
    registry.deliver(new Event('t'))
    registry.deliver(new Event('t'))
    expect(calls).toBe(1)
    expect(registry.has('t')).toBe(false)
  })

  it('skips a listener removed during dispatch and does not call one added during dispatch', () => {
    const { registry } = setup()
    const calls: string[] = []
    const late = () => calls.push('late')
    const second = () => calls.push('second')
    registry.add('t', () => {
      calls.push('first')
      registry.remove('t', second)
      registry.add('t', late)
    })
    registry.add('t', second)
    registry.deliver(new Event('t'))
    expect(calls).toEqual(['first'])
    registry.deliver(new Event('t'))
    expect(calls).toEqual(['first', 'first', 'late'])
  })

  it('removes signal listeners on abort, adds nothing for an aborted signal, and frees the abort hook', () => {
    const { registry, interest } = setup()
    const controller = new AbortController()
    let calls = 0
    for (let i = 0; i < 20; i++) registry.add('t', () => calls++, { signal: controller.signal })
    registry.deliver(new Event('t'))
    controller.abort()
    registry.deliver(new Event('t'))
    expect(calls).toBe(20)
    registry.add('t', () => calls++, { signal: controller.signal })
    expect(registry.has('t')).toBe(false)
    expect(interest).toEqual([
      ['t', true],
      ['t', false],
    ])
  })

  it('calls handleEvent with the object as this, looked up at call time', () => {
    const { registry, errors } = setup()
    const calls: string[] = []
    const listener: { name: string; handleEvent: unknown } = {
      name: 'obj',
      handleEvent(this: { name: string }) {
        calls.push(this.name)
      },
    }
    registry.add('t', listener)
    registry.deliver(new Event('t'))
    listener.handleEvent = 'not a function'
    registry.deliver(new Event('t'))
    expect(calls).toEqual(['obj'])
    expect(errors.map((error) => error.code)).toEqual(['ERR_LISTENER_THREW'])
  })

  it('keeps calling listeners after one throws and reports the error with its cause', () => {
    const { registry, errors } = setup()
    const boom = new Error('boom')
    const calls: string[] = []
    registry.add('t', () => {
      throw boom
    })
    registry.add('t', () => calls.push('after'))
    registry.deliver(new Event('t'))
    expect(calls).toEqual(['after'])
    expect(errors).toHaveLength(1)
    expect(errors[0]).toBeInstanceOf(EventwireError)
    expect(errors[0]!.code).toBe('ERR_LISTENER_THREW')
    expect(errors[0]!.cause).toBe(boom)
    expect(errors[0]!.eventType).toBe('t')
  })

  it('ignores null listeners and throws a TypeError for a primitive one, as the DOM does', () => {
    const { registry } = setup()
    registry.add('t', null)
    registry.add('t', undefined)
    expect(registry.has('t')).toBe(false)
    expect(() => registry.add('t', 42)).toThrow(TypeError)
    expect(() => registry.remove('t', 'x')).toThrow(TypeError)
  })

  it('clear() removes everything without interest callbacks and detaches abort hooks', () => {
    const { registry, interest } = setup()
    const controller = new AbortController()
    let calls = 0
    registry.add('t', () => calls++, { signal: controller.signal })
    interest.length = 0
    registry.clear()
    controller.abort()
    registry.deliver(new Event('t'))
    expect(calls).toBe(0)
    expect(interest).toEqual([])
    expect(registry.types()).toEqual([])
  })
})

describe('in-process target', () => {
  it('throws a TypeError when dispatching something that is not an Event', () => {
    const target = createInProcessEventTarget()
    expect(() => target.dispatchEvent({ type: 'x' } as never)).toThrow(TypeError)
    expect(() => target.dispatchEvent(null as never)).toThrow(TypeError)
  })

  it('returns false from dispatchEvent when a listener cancels a cancelable event', () => {
    const target = createInProcessEventTarget()
    target.addEventListener('x', (event) => event.preventDefault())
    expect(target.dispatchEvent(new CustomEvent('x', { cancelable: true }))).toBe(false)
    expect(target.dispatchEvent(new CustomEvent('x'))).toBe(true)
  })

  it('counts dispatches, deliveries and subscribed types', () => {
    const target = createInProcessEventTarget()
    const fn = () => {}
    target.addEventListener('a', fn)
    target.addEventListener('a', () => {})
    target.addEventListener('b', fn)
    target.dispatchEvent(new CustomEvent('a'))
    target.dispatchEvent(new CustomEvent('none'))
    expect(target.stats()).toMatchObject({ dispatched: 2, delivered: 2, subscriptions: 2 })
    target.removeEventListener('b', fn)
    expect(target.stats().subscriptions).toBe(1)
  })

  it('ignores adds after close and rejects flush', async () => {
    const target = createInProcessEventTarget()
    await target.close()
    let calls = 0
    target.addEventListener('a', () => calls++)
    target.dispatchEvent(new CustomEvent('a'))
    expect(calls).toBe(0)
    await expect(target.flush()).rejects.toMatchObject({ code: 'ERR_CLOSED' })
  })

  it('rejects an options value that is not an object', () => {
    expect(() => createInProcessEventTarget(5 as never)).toThrow(EventwireError)
    expect(() => createInProcessEventTarget({ onError: 5 as never })).toThrow(/onError/)
  })
})
