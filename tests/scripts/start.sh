#!/usr/bin/env bash
# Cairn's main job on a fresh Debian 12 machine: install what is needed, build, and open the
# desktop app on your workspace. With `demo` (or without a display) run the headless lifecycle
# demo instead: import → train → search → bundle → verify on the bundled sample data.
#   bash tests/scripts/start.sh          desktop app (falls back to the demo without $DISPLAY)
#   bash tests/scripts/start.sh demo     headless demo in a fresh workspace
set -euo pipefail
cd "$(dirname "$0")/../.."
source tests/scripts/env.sh
bash tests/scripts/setup-debian.sh

mode=${1:-app}
if [ "$mode" = app ] && [ -z "${DISPLAY:-}${WAYLAND_DISPLAY:-}" ]; then
  echo "no display found: running the headless demo instead (cairn demo)"
  mode=demo
fi

# One build of the whole workspace (the same features as the test suite, so DuckDB's C++
# library is compiled once), then either face.
(cd ui && npm run --silent build)
cargo build --quiet --workspace
if [ "$mode" = demo ]; then
  exec "$CARGO_TARGET_DIR/debug/cairn" demo "${@:2}"
fi
exec "$CARGO_TARGET_DIR/debug/cairn-desktop" "${@:2}"
