#!/bin/sh
# Makes a Debian machine (bookworm) run the container sandbox with podman, as
# docs/architecture.md ("Runtime") records: Debian's podman 4.3 with runc
# (crun fails in cgroups hybrid mode), the cgroupfs manager (no systemd),
# podman's default ulimits emptied (setrlimit fails otherwise), catatonit for
# `init: true`, netavark and aardvark-dns for the service names, mmdebstrap
# for the base images (docker/standins.sh). Idempotent: installs only what is
# missing and leaves a containers.conf it wrote alone. Run as root; .ci/run
# runs it. Prints one line.
set -eu

# With their recommended packages, as tested here (iptables for netavark's
# port publishing comes so; it is named too).
packages="podman runc catatonit netavark aardvark-dns iptables mmdebstrap"
missing=""
for p in $packages; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing="$missing $p"
done
if [ -n "$missing" ]; then
  export DEBIAN_FRONTEND=noninteractive
  # Another apt may hold the lock (a session installing its own packages): wait for it.
  apt-get -o DPkg::Lock::Timeout=300 install -y -qq $missing >/dev/null 2>&1 ||
    { apt-get -o DPkg::Lock::Timeout=300 update -qq >/dev/null && apt-get -o DPkg::Lock::Timeout=300 install -y -qq $missing >/dev/null; }
fi

conf=/etc/containers/containers.conf
marker="# Written by btb-gateway's docker/podman-setup.sh"
if [ ! -e "$conf" ]; then
  mkdir -p /etc/containers
  cat > "$conf" <<CONF
$marker (docs/architecture.md, "Runtime").
[containers]
default_ulimits = []

[engine]
cgroup_manager = "cgroupfs"
runtime = "runc"
events_logger = "file"
CONF
elif ! grep -q "^$marker" "$conf"; then
  grep -q '^default_ulimits = \[\]' "$conf" || {
    echo "podman-setup: $conf exists and does not empty default_ulimits: add default_ulimits = [] under [containers], and cgroup_manager = \"cgroupfs\", runtime = \"runc\" under [engine]"
    exit 1
  }
fi
echo "podman-setup: $(podman --version), runc; installed:${missing:- nothing}"
