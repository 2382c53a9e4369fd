// The command line of the harness's scripts (run.ts, soak.ts), read one way:
// node:util's parseArgs, strict, with -h/--help; a wrong option or value
// prints the usage and exits 2, --help prints it and exits 0.
import { parseArgs, type ParseArgsOptionsConfig } from 'node:util'

const HELP = { help: { type: 'boolean', short: 'h', default: false } } as const

type Values<O extends ParseArgsOptionsConfig> = ReturnType<typeof parseArgs<{ options: O & typeof HELP; strict: true }>>['values']

export interface CommandLine<O extends ParseArgsOptionsConfig> {
  readonly values: Values<O>
  /** `--name`'s value as a number: positive, or with `zero: true` non-negative. */
  number(name: string, value: string, rule?: { zero?: boolean }): number
}

export function commandLine<const O extends ParseArgsOptionsConfig>(usage: string, options: O): CommandLine<O> {
  const wrong = (message: string): never => {
    process.stderr.write(`${message}\n${usage}`)
    process.exit(2)
  }
  let values: Values<O> | undefined
  let help = false
  try {
    const parsed = parseArgs({ options: { ...options, ...HELP }, strict: true }).values
    help = (parsed as { help?: boolean }).help === true
    values = parsed as Values<O>
  } catch (err) {
    wrong((err as Error).message)
  }
  if (help) {
    process.stdout.write(usage)
    process.exit(0)
  }
  return {
    values: values!,
    number(name, value, { zero = false } = {}) {
      const n = Number(value)
      if (!Number.isFinite(n) || n < 0 || (n === 0 && !zero)) wrong(`--${name} must be a ${zero ? 'non-negative' : 'positive'} number, not ${value}`)
      return n
    }
  }
}
