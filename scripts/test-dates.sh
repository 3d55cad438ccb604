#!/usr/bin/env bash
# Run the whole suite again with the clock moved 400 and 1500 days ahead (libfaketime, Debian
# package `faketime`), so that no test depends on today's date. Monotonic clocks stay real:
# timeouts and sleeps behave normally. Needs a built tree (run `npm test` first).
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v faketime >/dev/null 2>&1; then
  echo "test-dates: faketime is missing; install the Debian package faketime" >&2
  exit 1
fi
for offset in +400d +1500d; do
  echo "test-dates: vitest with the clock at $offset"
  FAKETIME_DONT_FAKE_MONOTONIC=1 faketime -f "$offset" npx vitest run
done
