#!/usr/bin/env bash
# @verity/core, identity, workload and enforce installed together from their `npm pack` tarballs
# into a scratch project outside the workspace, as a user gets them (there is no registry to
# publish to), protecting an Express app there against a real `verity serve`: one request allowed
# and one denied. The app is also type-checked against the tarballs' declarations. A step of
# .ci/run; exits non-zero at the first thing that does not hold.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
scratch=$(mktemp -d "${TMPDIR:-/tmp}/verity-pack-install.XXXXXX")
verity_pid=
cleanup() {
  if [ -n "$verity_pid" ]; then kill "$verity_pid" 2>/dev/null || true; wait "$verity_pid" 2>/dev/null || true; fi
  rm -rf "$scratch"
}
trap cleanup EXIT

echo "== build"
node scripts/build.mjs --if-stale

echo "== pack"
mkdir "$scratch/tarballs" "$scratch/app"
npm pack --silent --pack-destination "$scratch/tarballs" \
  --workspace packages/core --workspace packages/identity --workspace packages/workload --workspace packages/enforce >/dev/null
ls "$scratch/tarballs"

echo "== install into $scratch/app"
cd "$scratch/app"
printf '{ "name": "verity-pack-install-check", "private": true, "type": "module" }\n' > package.json
npm install --no-audit --no-fund --prefer-offline --loglevel=error \
  "$scratch"/tarballs/*.tgz express@^5 typescript@5.9.3 @types/express@^5 @types/node@^20
for name in core identity workload enforce; do
  # Installed from its tarball, not linked to the workspace.
  if [ -L "node_modules/@verity/$name" ] || [ ! -f "node_modules/@verity/$name/dist/index.js" ]; then
    echo "@verity/$name is not installed from its tarball" >&2
    exit 1
  fi
done

# The app: Express 5, the SDK's Express adapter in front of one route, deciding remotely on the
# demo tenant. The caller is named by a header here, a stand-in for what a real service learns
# from mTLS or a session (RouteRule.subject); never take a caller's identity from a client header.
cat > app.mjs <<'EOF'
import express from 'express';
import { createEnforcer, createRemoteDecisionSource } from '@verity/enforce';
import { verity } from '@verity/enforce/express';

const enforcer = createEnforcer({
  source: createRemoteDecisionSource({ url: process.env.VERITY_URL ?? '', timeoutMs: 5000, retries: 1 }),
  tenant: 'demo',
  tier: 'pack-install-check',
});
let handled = 0;
const app = express();
const asCaller = verity(enforcer, { subject: (req) => ({ type: 'identity', id: String(req.get('x-test-caller')) }) });
app.post('/todos', asCaller, (req, res) => {
  handled += 1;
  res.json({ created: true, decision: req.verity?.decisionId });
});

const server = app.listen(0, '127.0.0.1');
await new Promise((resolve) => server.once('listening', resolve));
const { port } = /** @type {import('node:net').AddressInfo} */ (server.address());
const base = `http://127.0.0.1:${port}`;
/** @param {string} caller */
const post = (caller) => fetch(`${base}/todos`, { method: 'POST', headers: { 'x-test-caller': caller } });
// examples/demo: Morty is an editor (may write), Beth a viewer (may only read).
const allowed = await post('CiRmZDE2MTRkMy1jMzlhLTQ3ODEtYjdiZC04Yjk2ZjVhNTEwMGQSBWxvY2Fs');
const allowedBody = await allowed.json();
const denied = await post('CiRmZDM2MTRkMy1jMzlhLTQ3ODEtYjdiZC04Yjk2ZjVhNTEwMGQSBWxvY2Fs');
const deniedBody = await denied.json();
server.close();
console.log(`allowed: ${allowed.status} ${JSON.stringify(allowedBody)}`);
console.log(`denied:  ${denied.status} ${JSON.stringify(deniedBody)}`);
const ok = allowed.status === 200 && allowedBody.created === true && typeof allowedBody.decision === 'string' && denied.status === 403 && handled === 1;
if (!ok) {
  console.error('expected 200 through the handler, then 403 without it');
  process.exit(1);
}
EOF

echo "== typecheck the app against the packages' declarations"
npx tsc --noEmit --allowJs --checkJs --strict --module nodenext --moduleResolution nodenext --target es2022 --types node app.mjs

echo "== verity serve (the workspace's build)"
node "$root/packages/cli/bin/verity.mjs" serve --demo --open-decisions --port 0 --data "$scratch/data" --log-level warn > "$scratch/verity.log" 2>&1 &
verity_pid=$!
url=
for _ in $(seq 1 240); do
  url=$(sed -n 's/^Verity listening on \(http[^ ]*\).*/\1/p' "$scratch/verity.log" | head -1)
  [ -n "$url" ] && break
  if ! kill -0 "$verity_pid" 2>/dev/null; then cat "$scratch/verity.log" >&2; exit 1; fi
  sleep 0.25
done
if [ -z "$url" ]; then
  echo "verity serve did not start within 60 s" >&2
  cat "$scratch/verity.log" >&2
  exit 1
fi
echo "$url"

echo "== the app, protected"
VERITY_URL=$url node app.mjs
echo "pack-install-check: ok"
