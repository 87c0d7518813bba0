#!/usr/bin/env bash
# Builds local stand-ins for the stack's third-party images from Debian's packages, for machines
# that cannot pull from a registry, and prints the variables that make compose.yaml use them:
#
#   eval "$(bash deploy/images/build-local.sh)"
#   docker-compose up -d
#
# PostgreSQL 15, Redis 7 and Prometheus come from Debian bookworm. Grafana is not packaged by
# Debian, so no stand-in is built for it: set GRAFANA_IMAGE to an image you have, or leave the
# grafana service out (scripts/compose-smoke.sh does when no Grafana image is present).
# Needs podman (or docker) and a local debian:bookworm-slim image.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
engine="${CONTAINER_ENGINE:-$(command -v podman || command -v docker)}"
[[ -n "$engine" ]] || { echo "podman or docker is required" >&2; exit 1; }

build() {
  local name=$1 dir=$2
  echo "building $name from deploy/images/$dir" >&2
  if [[ $(basename "$engine") == podman ]]; then
    # --pull=never: the Debian base image is local; docker format keeps STOPSIGNAL and healthchecks.
    "$engine" build --pull=never --format docker -t "$name" "$here/$dir" >&2
  else
    "$engine" build -t "$name" "$here/$dir" >&2
  fi
}
build localhost/kaira-postgres:15 postgres
build localhost/kaira-redis:7 redis
build localhost/kaira-prometheus:debian prometheus

echo "export POSTGRES_IMAGE=localhost/kaira-postgres:15"
echo "export REDIS_IMAGE=localhost/kaira-redis:7"
echo "export PROMETHEUS_IMAGE=localhost/kaira-prometheus:debian"
