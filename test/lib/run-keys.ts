// The keys CLI (gateway/cli/keys.ts) run in this process, through the same
// main() its process runs, with its output collected: a process start costs
// more than most commands. test/keys-cli.test.ts also runs it as a process,
// for the exit codes and streams a shell sees.
import { main } from '../../gateway/cli/keys.ts'

export interface KeysRun {
  readonly code: number
  readonly stdout: string
  readonly stderr: string
}

export async function runKeys(...args: string[]): Promise<KeysRun> {
  let stdout = ''
  let stderr = ''
  const code = await main(args, {
    stdout: {
      write: (text: string) => {
        stdout += text
      }
    },
    stderr: {
      write: (text: string) => {
        stderr += text
      }
    }
  })
  return { code, stdout, stderr }
}
