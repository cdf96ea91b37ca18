#!/usr/bin/env bash
# The whole suite, as CI runs it: setup, lint and format check (Biome), type check, unit tests,
# then the integration tests that run ISC dhcpd, Kea and dnsmasq in network namespaces (root
# needed; under CI=true they must run).
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh
npm run lint
npx tsc -p tsconfig.json --noEmit
npx vitest run --project unit
npm run build
# The single executable, the RPM and the .deb, then their tests on their own: installing the .deb
# puts /usr/bin/oam-docker-ipam and /etc/oam-docker-ipam on this machine for a few seconds.
bash build-rpm.sh "$(node -p 'require("./package.json").version')"
npx vitest run --project packaging
# The Docker end-to-end files share one engine and run one at a time; the namespace labs run
# side by side. Both at once, each in its own vitest process; the run fails if either does.
# The lab engines are shared with bench:docker-run, which holds the same lock for its run.
flock /tmp/d4d-docker.lock npx vitest run --project e2e > >(sed -u 's/^/[e2e] /') 2>&1 &
e2e=$!
status=0
npx vitest run --project integration || status=$?
wait "$e2e" || status=$?
exit "$status"
