#!/usr/bin/env node
// Runs a command in a network namespace that has only loopback, where Linux allows it (`unshare -rn`,
// then `ip link set lo up`), and sets EVENTWIRE_NETNS=1 there.
//
// Why: an iroh endpoint probes for a UPnP gateway on every bind (an SSDP multicast to
// 239.255.255.250:1900), and @number0/iroh 1.1 has no switch to turn that off. Everything this project
// tests, benchmarks and demonstrates talks to 127.0.0.1 only, so inside the namespace nothing can leave
// the machine. Where no namespace can be made, the command runs as it is without EVENTWIRE_NETNS, and
// the iroh parts stay off (tests and benchmarks check the variable).
import { spawnSync } from 'node:child_process'

const command = process.argv.slice(2)
if (command.length === 0) {
  console.error('usage: node scripts/isolated.mjs <command> [args...]')
  process.exit(2)
}

function run(argv, env) {
  const result = spawnSync(argv[0], argv.slice(1), { stdio: 'inherit', env })
  if (result.error) throw result.error
  return result.status ?? 1
}

const canIsolate =
  process.env.EVENTWIRE_NETNS === '1' ||
  (process.platform === 'linux' &&
    spawnSync('unshare', ['-rn', 'sh', '-c', 'ip link set lo up'], { stdio: 'ignore' }).status === 0)

if (process.env.EVENTWIRE_NETNS === '1') {
  process.exit(run(command, process.env))
}
if (canIsolate) {
  const script = 'ip link set lo up && exec "$@"'
  process.exit(
    run(['unshare', '-rn', 'sh', '-c', script, 'sh', ...command], { ...process.env, EVENTWIRE_NETNS: '1' }),
  )
}
console.warn(
  'eventwire: no loopback-only network namespace here (unshare -rn); running without it, iroh parts off.',
)
process.exit(run(command, process.env))
