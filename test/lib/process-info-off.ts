// Preloaded into every process of a test run: `npm test` names it in
// NODE_OPTIONS, which Node runs before the `--import`s of a command line, so
// it runs before tap's process-info hook, in the test processes, in their
// threads and in every gateway, CLI and sandbox process they start
// (docs/architecture.md, "The test suite").
//
// That hook records the line lengths and looks up the source maps of every
// module a process loads, for coverage, which this suite does not collect.
// Told to record nothing, it still stood in front of every module a test
// process and each of its threads loaded: 0.15–0.25 s of CPU for a process
// that builds an app. tap's runner names it last among a test process's
// preloads (in NODE_OPTIONS and on the command line), and each of the
// process's threads loads it again: where it is named, this preload answers
// it with an empty module, once, and then steps out of every later load.
import { registerHooks } from 'node:module'

const PROCESS_INFO_HOOK = /^--(import|loader|experimental-loader)=.*\/@tapjs\/processinfo\//
const PROCESS_INFO_MODULE = /\/node_modules\/@tapjs\/processinfo\/dist\/esm\/import\.mjs$/

const nodeOptions = process.env.NODE_OPTIONS
const options = nodeOptions === undefined ? undefined : nodeOptionsArgs(nodeOptions)
if (process.execArgv.some((arg) => PROCESS_INFO_HOOK.test(arg)) || options?.some((arg) => PROCESS_INFO_HOOK.test(arg))) {
  const hooks = registerHooks({
    load(url, context, nextLoad) {
      if (!PROCESS_INFO_MODULE.test(url)) return nextLoad(url, context)
      hooks.deregister()
      return { format: 'module', source: '', shortCircuit: true }
    }
  })
}
// Were the hook loaded all the same (a later tap naming it another way), it
// reads which files to leave out from this variable when it loads; tap's
// runner sets the variable for each test process itself, over `.taprc`'s
// `test-env`, so it is set here, inside the process: every file is left out.
process.env._TAPJS_PROCESSINFO_EXCLUDE_ = '/./'
// The processes a test starts (gateways, CLIs, sandboxes, mock agencies) are
// not even told of the hook: tap puts it in NODE_OPTIONS for its test
// processes, and each test passes its environment on, so it is taken out of
// the variable here. Only tap's `--import=…/@tapjs/processinfo/…` is taken
// out; this file and any other option stay as they were.
if (options !== undefined) {
  const kept = options.filter((option) => !PROCESS_INFO_HOOK.test(option))
  if (kept.length < options.length) process.env.NODE_OPTIONS = kept.map(quoted).join(' ')
}

// tap also turns source maps on in its test processes. Node strips types in
// place, so a test's stack traces keep their lines without them; only the
// maps that packages ship would be parsed, at every load.
process.setSourceMapsEnabled(false)

/**
 * NODE_OPTIONS split as Node splits it: at spaces outside double quotes,
 * where a backslash escapes the next character. tap's runner quotes every
 * option it writes. Undefined for a quote left open, which Node refuses.
 */
function nodeOptionsArgs(value: string): string[] | undefined {
  const args: string[] = []
  let arg = ''
  let inArg = false
  let inQuotes = false
  for (let i = 0; i < value.length; i++) {
    const c = value[i]
    if (inQuotes && c === '\\' && i + 1 < value.length) arg += value[++i]
    else if (c === '"') {
      inQuotes = !inQuotes
      inArg = true
    } else if (c === ' ' && !inQuotes) {
      if (inArg) args.push(arg)
      arg = ''
      inArg = false
    } else {
      arg += c
      inArg = true
    }
  }
  if (inQuotes) return undefined
  if (inArg) args.push(arg)
  return args
}

/** An option as NODE_OPTIONS holds it: in quotes if it has a space, a quote or a backslash. */
function quoted(arg: string): string {
  return /[\s"\\]/.test(arg) ? `"${arg.replace(/[\\"]/g, '\\$&')}"` : arg
}
