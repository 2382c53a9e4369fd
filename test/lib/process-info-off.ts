// Preloaded into every process of a test run: `npm test` names it in
// NODE_OPTIONS, which Node runs before the `--import`s of a command line, so
// it runs before tap's process-info hook, in the test processes and in every
// gateway, CLI and sandbox process they start (docs/architecture.md, "The
// test suite").
//
// That hook records the line lengths and looks up the source maps of every
// module a process loads, for coverage, which this suite does not collect:
// about 0.75 s of CPU in a test file that builds apps, 2 s in one that starts
// processes. It reads which files to leave out from this variable when it
// loads; tap's runner sets the variable for each test process itself, over
// `.taprc`'s `test-env`, so it is set here, inside the process, before the
// hook reads it: every file is left out.
process.env._TAPJS_PROCESSINFO_EXCLUDE_ = '/./'
// The processes a test starts (gateways, CLIs, sandboxes, mock agencies) do
// not load the hook at all: tap puts it in NODE_OPTIONS for its test
// processes, and each test passes its environment on. Loading it, even
// recording nothing, cost a gateway process about 0.1 s of CPU to its first
// /healthz (0.72 s against 0.83), and each of its threads more: a test
// process's own threads still pay that, as Node starts them with its options.
// Only tap's `--import=…/@tapjs/processinfo/…` is taken out; this file stays.
const nodeOptions = process.env.NODE_OPTIONS
if (nodeOptions !== undefined && !/["']/.test(nodeOptions)) {
  process.env.NODE_OPTIONS = nodeOptions
    .split(/\s+/)
    .filter((option) => !/^--(import|loader|experimental-loader)=\S*\/@tapjs\/processinfo\//.test(option))
    .join(' ')
}
// tap also turns source maps on in its test processes. Node strips types in
// place, so a test's stack traces keep their lines without them; only the
// maps that packages ship would be parsed, at every load.
process.setSourceMapsEnabled(false)
