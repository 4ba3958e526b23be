#!/usr/bin/env bash
# Install winterops on a machine with no package registry, from a bundle built by
# deploy/wheelhouse.sh (same Python minor version and platform as the machine that built it).
#
#   deploy/install-offline.sh [--wheelhouse DIR] [--venv DIR] [--editable]
#
# --wheelhouse  the bundle (default var/wheelhouse)
# --venv        the virtual environment to create (default .venv)
# --editable    install this source tree in development mode (pip -e, for `make test`);
#               without it the winterops wheel from the bundle is installed
# Every pip call has --no-index: nothing is ever fetched from the network.
set -euo pipefail
cd "$(dirname "$0")/.."
WH=var/wheelhouse
VENV=.venv
EDITABLE=0
while [ $# -gt 0 ]; do
  case "$1" in
    --wheelhouse) WH=$2; shift 2 ;;
    --venv) VENV=$2; shift 2 ;;
    --editable) EDITABLE=1; shift ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    *) echo "install-offline: unknown argument $1" >&2; exit 2 ;;
  esac
done
if [ ! -d "$WH" ] || ! ls "$WH"/winterops-*.whl >/dev/null 2>&1; then
  echo "install-offline: no bundle at $WH (build it with deploy/wheelhouse.sh where PyPI is reachable)" >&2
  exit 1
fi
if [ -f "$WH/SHA256SUMS" ]; then
  ( cd "$WH" && sha256sum --quiet --check SHA256SUMS ) || { echo "install-offline: bundle damaged (SHA256SUMS)" >&2; exit 1; }
fi
PYTHON=${PYTHON:-$(command -v python3.11 || command -v python3)}
# only the bundle counts: no pip configuration, index or extra find-links from this machine
export PIP_CONFIG_FILE=/dev/null
unset PIP_INDEX_URL PIP_EXTRA_INDEX_URL PIP_FIND_LINKS PIP_CONSTRAINT
"$PYTHON" -m venv "$VENV"
PIP=("$VENV/bin/pip" --disable-pip-version-check install --no-index --find-links "$WH")
"${PIP[@]}" --quiet --upgrade pip 'setuptools>=77,<81' wheel
if [ "$EDITABLE" = 1 ]; then
  # the build backend (setuptools, wheel) is already in the venv: no isolated build env to fetch
  "${PIP[@]}" --quiet --no-build-isolation -e '.[dev]'
else
  "${PIP[@]}" --quiet 'winterops[dev]'
fi
"$VENV/bin/pip" check
if ! "$VENV/bin/winterops" --help >/dev/null; then
  echo "install-offline: installed, but \`winterops --help\` fails (see above)" >&2
  exit 1
fi
echo "install-offline: winterops installed in $VENV from $WH (winterops runs)"
