#!/usr/bin/env bash
# Runs Docker Compose with the arguments given: the v2 plugin (`docker
# compose`) when the Docker CLI has it, else the v1 `docker-compose`. The
# Makefile's up, up-secure and down targets and compose-check.sh go through
# it, so either installation works.
set -euo pipefail
if docker compose version >/dev/null 2>&1; then
  exec docker compose "$@"
fi
if command -v docker-compose >/dev/null 2>&1; then
  exec docker-compose "$@"
fi
echo "compose.sh: neither 'docker compose' (v2) nor 'docker-compose' (v1) is installed" >&2
exit 127
