#!/usr/bin/env bash
# Installs the external programs the test suite drives (real services, not mocks).
# The language core needs none yet beyond git; later stages add docker-registry and kubectl.
set -euo pipefail
need=()
command -v git >/dev/null 2>&1 || need+=(git)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && apt-get install -y -qq "${need[@]}"
  else
    echo "missing: ${need[*]} (install them, or run as root to have them installed)" >&2
    exit 1
  fi
fi
