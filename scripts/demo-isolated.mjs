#!/usr/bin/env node
// `npm run demo:isolated`: the demo in a network namespace that has only loopback (as scripts/isolated.mjs
// runs the tests), so its iroh part can run, with its page reachable from this machine.
//
// The namespace's 127.0.0.1 is its own, so a browser outside cannot reach the demo's port. A unix socket
// in the file system can be reached from both sides: the demo serves its page on one as well
// (EVENTWIRE_DEMO_SOCKET), and this script listens on PORT (default 3000, any free one if taken) on
// 127.0.0.1 here and relays each connection to it. The demo prints that address (EVENTWIRE_DEMO_URL).
//
// This script makes a new namespace even when it runs in one already (under `npm test`). Where none can
// be made, the demo runs as it is, without the relay. SIGINT, SIGTERM and SIGHUP are passed to the demo,
// and this script ends with it; the demo ends by itself when this script goes away.
import { spawn, spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { connect, createServer } from 'node:net'
import { constants, tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('..', import.meta.url))
const demo = [process.execPath, '--import', 'tsx', 'examples/demo.ts']
const signals = ['SIGINT', 'SIGTERM', 'SIGHUP']

const canIsolate =
  process.platform === 'linux' &&
  spawnSync('unshare', ['-rn', 'sh', '-c', 'ip link set lo up'], { stdio: 'ignore' }).status === 0

/** Runs the demo, passes the signals on, and ends with its exit code. */
function run(argv, env, onExit = () => {}) {
  const child = spawn(argv[0], argv.slice(1), { cwd: root, env, stdio: 'inherit' })
  for (const signal of signals) process.on(signal, () => child.kill(signal))
  child.once('error', (error) => {
    console.error(error)
    onExit()
    process.exit(1)
  })
  child.once('exit', (code, signal) => {
    onExit()
    process.exit(code ?? 128 + (constants.signals[signal] ?? 0))
  })
}

/** Listens on 127.0.0.1:port here, or on any free port if that one is taken. */
function listen(server, port) {
  return new Promise((resolve, reject) => {
    const onError = (error) => {
      if (error.code === 'EADDRINUSE' && port !== 0) resolve(listen(server, 0))
      else reject(error)
    }
    server.once('error', onError)
    server.listen(port, '127.0.0.1', () => {
      server.off('error', onError)
      resolve(server.address().port)
    })
  })
}

if (!canIsolate) {
  console.warn(
    'eventwire: no loopback-only network namespace here (unshare -rn); running the demo without it.',
  )
  run(demo, process.env)
} else {
  const dir = mkdtempSync(join(tmpdir(), 'eventwire-demo-'))
  const socketPath = join(dir, 'page.sock')
  const connections = new Set()
  const relay = createServer((client) => {
    const upstream = connect(socketPath)
    const pair = [client, upstream]
    for (const socket of pair) {
      connections.add(socket)
      socket.once('close', () => {
        connections.delete(socket)
        for (const other of pair) other.destroy()
      })
      socket.on('error', () => {})
    }
    client.pipe(upstream).pipe(client)
  })
  const port = await listen(relay, Number(process.env.PORT ?? 3000))
  const script = 'ip link set lo up && exec "$@"'
  run(
    ['unshare', '-rn', 'sh', '-c', script, 'sh', ...demo],
    {
      ...process.env,
      EVENTWIRE_NETNS: '1',
      EVENTWIRE_DEMO_SOCKET: socketPath,
      EVENTWIRE_DEMO_URL: `http://127.0.0.1:${port}/`,
    },
    () => {
      relay.close()
      for (const socket of connections) socket.destroy()
      rmSync(dir, { recursive: true, force: true })
    },
  )
}
