import { type ChildProcess, spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { waitFor } from '../../src/testing/index.js'

export interface ChildScript {
  readonly child: ChildProcess
  readonly output: string[]
  /** SIGKILL: the process gets no chance to say goodbye. */
  kill(): Promise<void>
}

/** Runs a TypeScript file of test/support/processes in its own Node process and waits for `ready`. */
export function runScript(name: string, args: string[], timeoutMs = 15_000): Promise<ChildScript> {
  const file = fileURLToPath(new URL(`./processes/${name}`, import.meta.url))
  return runCommand(name, process.execPath, ['--import', 'tsx', file, ...args], timeoutMs)
}

/**
 * Starts any program (Node, Bun, Deno…) and waits until it prints a line starting with `ready`; its
 * stdout lines and stderr chunks collect in `output`.
 */
export async function runCommand(
  name: string,
  command: string,
  args: string[],
  timeoutMs = 15_000,
): Promise<ChildScript> {
  const child = spawn(command, args, {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, NO_COLOR: '1' },
  })
  const output: string[] = []
  child
    .stdout!.setEncoding('utf8')
    .on('data', (chunk: string) => output.push(...chunk.split('\n').filter(Boolean)))
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => output.push(chunk))
  const kill = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return
    const exited = new Promise((resolve) => child.once('exit', resolve))
    child.kill('SIGKILL')
    await exited
  }
  try {
    await waitFor(() => output.some((line) => line.startsWith('ready')) || child.exitCode !== null, {
      timeoutMs,
      message: `${name} ready`,
    })
    if (child.exitCode !== null) throw new Error(`exited with ${child.exitCode}`)
  } catch (error) {
    await kill()
    throw new Error(`${name} did not start: ${output.join('\n')}`, { cause: error })
  }
  return { child, output, kill }
}
