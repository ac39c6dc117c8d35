#!/usr/bin/env bash
# Real peers the tests run: Debian's nginx (the gateway end-to-end test). Installs it when it is
# missing and we may (root, apt-get); otherwise says exactly what to install. Idempotent.
set -euo pipefail
PATH="$PATH:/usr/sbin"
if command -v nginx >/dev/null 2>&1; then exit 0; fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing nginx (Debian package) for the gateway tests…" >&2
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nginx >/dev/null
  exit 0
fi
echo "The tests need nginx (e2e/gateway-nginx.test.ts runs it): sudo apt-get install nginx" >&2
exit 1
