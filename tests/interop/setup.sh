#!/usr/bin/env bash
# Creates (or reuses) the interop venv with tests/interop/requirements.txt installed, and
# prints its path. It is reused only while its stamp holds the hash of requirements.txt;
# otherwise it is made anew.
#
#   VENV=$(bash tests/interop/setup.sh)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
VENV="${CAIRN_INTEROP_VENV:-$HOME/.cache/cairn-venv-interop}"
want=$(sha256sum "$here/requirements.txt" | cut -d' ' -f1)
stamp="$VENV/.requirements.sha256"
if [ ! -x "$VENV/bin/python" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    echo "installing tests/interop/requirements.txt into $VENV" >&2
    rm -rf "$VENV"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check -r "$here/requirements.txt" >&2
    echo "$want" > "$stamp"
fi
echo "$VENV"
