#!/bin/sh
# npm run test:containers: the container sandbox end to end
# (test/containers/compose-sandbox.ts), bounded in time. Where containers
# cannot run (no podman, no base images, podman unable to start one), it says
# so in one line and exits 0, so that the rest of CI still runs; where they
# can, its exit status is the test's. The base images of docker/standins.sh
# stay in podman's storage: only the first run on a machine builds them.
set -u
cd "$(dirname "$0")/.."
start=$(date +%s)
say() { echo "containers: $*"; }
last() { grep -v 'unable to get systemd connection' | grep -v '^[[:space:]]*$' | tail -1; }

if ! command -v podman >/dev/null 2>&1; then
  say "not run: podman is not installed (as root on Debian: sh docker/podman-setup.sh)"
  exit 0
fi
if ! out=$(timeout 60 podman info 2>&1); then
  say "not run: podman does not work here: $(echo "$out" | last)"
  exit 0
fi
if ! out=$(timeout 900 sh docker/standins.sh 2>&1); then
  say "not run: the local base images could not be built: $(echo "$out" | last)"
  exit 0
fi
if ! out=$(timeout 120 podman run --rm --network=none localhost/btb-standin/debian:bookworm-minbase true 2>&1); then
  say "not run: podman cannot start a container here: $(echo "$out" | last)"
  exit 0
fi
say "base images ready in $(( $(date +%s) - start )) s"

timeout 1500 tap --timeout 1500 test/containers/compose-sandbox.ts
status=$?
if [ "$status" -eq 0 ]; then say "passed in $(( $(date +%s) - start )) s"; else say "FAILED (exit $status) after $(( $(date +%s) - start )) s"; fi
exit "$status"
