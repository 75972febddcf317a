#!/usr/bin/env bash
# Installs what Cairn needs on Debian 12: system packages (apt), tauri-driver (cargo), the UI's
# npm packages. Safe to run again: each step is skipped when already done.
set -euo pipefail
cd "$(dirname "$0")/../.."
source tests/scripts/env.sh

APT_PACKAGES=(build-essential pkg-config libwebkit2gtk-4.1-dev libgtk-3-dev librsvg2-dev
  xvfb xauth webkit2gtk-driver fonts-wqy-microhei)
missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

command -v cargo >/dev/null || { echo "setup: Rust is needed (https://rustup.rs), then run this again" >&2; exit 1; }
command -v node >/dev/null || { echo "setup: Node.js 20 or newer is needed (with npm), then run this again" >&2; exit 1; }

if ! command -v tauri-driver >/dev/null; then
  echo "setup: installing tauri-driver"
  cargo install tauri-driver --version '^2' --locked --quiet
fi

# npm install (not npm ci: the lock file lists other platforms' optional builds that a
# registry mirror may lack); exact versions are pinned in ui/package.json.
if [ ! -d ui/node_modules ] || [ ui/package-lock.json -nt ui/node_modules/.package-lock.json ]; then
  echo "setup: installing the UI's npm packages"
  (cd ui && npm install --no-audit --no-fund --loglevel=error)
fi
