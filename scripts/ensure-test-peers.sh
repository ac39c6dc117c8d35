#!/usr/bin/env bash
# Real peers the tests run: Debian's nginx and caddy (the gateway end-to-end tests), MaxMind's
# database writer, libmaxmind-db-writer-perl (the location tests build a small .mmdb with it), and
# kubectl from kubernetes-client (e2e/deployables.test.ts renders the Kustomize overlays with it),
# and chromium (e2e/console.test.ts drives the web console in it through playwright-core).
# Installs what is missing when we may (root, apt-get); otherwise says exactly what to install.
# Idempotent.
set -euo pipefail
PATH="$PATH:/usr/sbin"
missing=()
command -v nginx >/dev/null 2>&1 || missing+=(nginx)
command -v caddy >/dev/null 2>&1 || missing+=(caddy)
perl -MMaxMind::DB::Writer::Tree -e 1 >/dev/null 2>&1 || missing+=(libmaxmind-db-writer-perl)
command -v kubectl >/dev/null 2>&1 || missing+=(kubernetes-client)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
if [ "${#missing[@]}" -eq 0 ]; then exit 0; fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing ${missing[*]} (Debian packages) for the tests…" >&2
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  exit 0
fi
echo "The tests need ${missing[*]} (e2e/gateway-nginx.test.ts runs nginx, e2e/gateway-caddy.test.ts runs caddy; the location tests build a MaxMind database; e2e/deployables.test.ts runs kubectl kustomize; e2e/console.test.ts runs chromium): sudo apt-get install ${missing[*]}" >&2
exit 1
