#!/usr/bin/env bash
# The whole suite, as CI runs it: setup, type check, unit tests, then the integration tests that
# run ISC dhcpd, Kea and dnsmasq in network namespaces (root needed; under CI=true they must run).
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh
npx tsc -p tsconfig.json --noEmit
npx vitest run --project unit
npm run build
npx vitest run --project integration
