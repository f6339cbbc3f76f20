#!/usr/bin/env bash
# Build (once) and print the path of the virtual environment for this checkout's requirements.
# Venvs live outside the clone, keyed on the requirement files and the Python version, so a fresh
# clone with unchanged requirements reuses the 6 GB environment instead of reinstalling it.
set -o errexit -o pipefail -o nounset

root=$(cd "$(dirname "$0")/.." && pwd)
python=${PYTHON:-}
if [ -z "$python" ]; then
  for candidate in python3.11 python3; do
    if command -v "$candidate" >/dev/null 2>&1; then python=$candidate; break; fi
  done
fi
[ -n "$python" ] || { echo "error: Python 3.11 is required (set PYTHON=/path/to/python3.11)" >&2; exit 1; }
version=$("$python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
if [ "$version" != "3.11" ]; then
  echo "error: Python 3.11 is required, $python is $version (set PYTHON=/path/to/python3.11)" >&2
  exit 1
fi

key=$(cat "$root/requirements.txt" "$root/requirements-dev.txt" | sha256sum | cut -c1-16)
cache=${TRAFFICSITE_VENV_CACHE:-$HOME/.cache/trafficsite/venvs}
venv="$cache/py$version-$key"
mkdir -p "$cache"
# Two ./test or ./run started at once must not build the same venv together (one would delete the
# other's half-built tree): the second waits for the first.
exec 9>"$venv.lock"
flock 9
if [ ! -f "$venv/.complete" ]; then
  echo "[venv] installing dependencies into $venv (first run: a few minutes)" >&2
  rm -rf "$venv"
  "$python" -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --upgrade pip >&2
  "$venv/bin/python" -m pip install --quiet -r "$root/requirements-dev.txt" >&2
  touch "$venv/.complete"
fi
echo "$venv"
