#!/usr/bin/env bash
# Ensures the system tools that integration/e2e tests drive for real are installed.
#
# Contract: idempotent; exits 0 when every required command is present. When some are
# missing: as root, runs `apt-get update` once and installs TEST_DEPS_PACKAGES (all of
# them, so versions come from one apt state); otherwise prints the exact command to run
# and exits 1. Never touches anything when nothing is missing.
set -euo pipefail

# dockerd lives in /usr/sbin, which a non-login shell's PATH may lack.
export PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"

# "command:debian-package" pairs. Extend here (e.g. docker:docker.io, podman:podman).
TEST_DEPS=(
  "docker-registry:docker-registry"
  "skopeo:skopeo"
  "htpasswd:apache2-utils"
  "openssl:openssl"
  # dockerd (with containerd and runc) for the docker-archive tests: test/support/dockerd.ts
  "dockerd:docker.io"
  # the Podman API service for the containers-storage tests: test/daemons.e2e-spec.ts
  "podman:podman"
  # PostgreSQL for the shared operations store: test/support/postgres.ts (initdb/pg_ctl live in
  # /usr/lib/postgresql/<version>/bin, off the PATH: see has_cmd)
  "pg_ctl:postgresql"
  # ip (iproute2): the egress test adds 169.254.169.254 to lo to prove it is never reached
  "ip:iproute2"
)

# Whether a test dependency's command is there; pg_ctl is looked for where Debian puts it.
has_cmd() {
  if [ "$1" = "pg_ctl" ]; then
    compgen -G "/usr/lib/postgresql/*/bin/pg_ctl" >/dev/null 2>&1
    return
  fi
  command -v "$1" >/dev/null 2>&1
}

missing_cmds=()
TEST_DEPS_PACKAGES=()
for dep in "${TEST_DEPS[@]}"; do
  cmd="${dep%%:*}"
  pkg="${dep#*:}"
  TEST_DEPS_PACKAGES+=("$pkg")
  if ! has_cmd "$cmd"; then
    missing_cmds+=("$cmd")
  fi
done

if [ "${#missing_cmds[@]}" -eq 0 ]; then
  echo "ensure-test-deps: all present (${TEST_DEPS_PACKAGES[*]})"
  exit 0
fi

install_cmd="apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ${TEST_DEPS_PACKAGES[*]}"
echo "ensure-test-deps: missing commands: ${missing_cmds[*]}" >&2

# $EUID is bash's own: it does not depend on an `id` program on the PATH.
if [ "${EUID}" -ne 0 ]; then
  echo "ensure-test-deps: not root; run:" >&2
  echo "  sudo sh -c '$install_cmd'" >&2
  exit 1
fi

apt-get update
DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${TEST_DEPS_PACKAGES[@]}"

still_missing=()
for dep in "${TEST_DEPS[@]}"; do
  cmd="${dep%%:*}"
  has_cmd "$cmd" || still_missing+=("$cmd")
done
if [ "${#still_missing[@]}" -ne 0 ]; then
  echo "ensure-test-deps: still missing after install: ${still_missing[*]}" >&2
  exit 1
fi
echo "ensure-test-deps: installed ${TEST_DEPS_PACKAGES[*]}"
