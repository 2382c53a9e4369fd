#!/bin/sh
# The redis stand-in's entrypoint (docker/standins/redis.Containerfile): like
# the official image's, it turns protected mode off unless the command sets
# it, since the other containers reach Redis over the network, not loopback.
set -eu
if [ "${1:-}" = redis-server ]; then
  case " $* " in
    *" --protected-mode "*) ;;
    *) set -- "$@" --protected-mode no ;;
  esac
fi
exec "$@"
