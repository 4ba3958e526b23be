#!/usr/bin/env bash
# Build an offline bundle: every wheel winterops needs (runtime + dev extras), for this machine's
# Python and platform, into var/wheelhouse/ (or $1). Run it on a machine that reaches PyPI; copy
# the folder with the source tree to the air-gapped machine and run deploy/install-offline.sh.
#
#   deploy/wheelhouse.sh [WHEELHOUSE_DIR]        (also: make wheelhouse)
#
# xstatic-bootstrap is published only as an sdist whose setup.py needs pkg_resources, so it is
# built here into a wheel with setuptools<81 (no build isolation); winterops itself is built
# into a wheel too, so the offline side never builds anything.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
WH=${1:-var/wheelhouse}
PYTHON=${PYTHON:-$(command -v python3.11 || command -v python3)}
mkdir -p "$WH"
WH=$(cd "$WH" && pwd)
BUILD=$(mktemp -d "${TMPDIR:-/tmp}/winterops-wheelhouse.XXXXXX")
trap 'rm -rf "$BUILD"' EXIT

echo "wheelhouse: $WH (python: $("$PYTHON" -V 2>&1), build venv: $BUILD/venv)"
"$PYTHON" -m venv "$BUILD/venv"
PIP="$BUILD/venv/bin/pip"
"$PIP" install --quiet --upgrade pip 'setuptools>=77,<81' wheel

# 1. the installers themselves, so the offline venv can upgrade pip and build an editable install
"$PIP" download --quiet --dest "$WH" --only-binary=:all: pip 'setuptools>=77,<81' wheel

# 2. the sdist-only xstatic-bootstrap, built into a wheel with the setuptools that has pkg_resources
"$PIP" wheel --quiet --no-deps --no-build-isolation --wheel-dir "$WH" 'xstatic-bootstrap>=5.3'

# 3. winterops and every dependency (runtime + dev), as wheels; what is already there is reused
"$PIP" wheel --quiet --wheel-dir "$WH" --find-links "$WH" "$ROOT[dev]"

# 4. the list of what is in the bundle, with hashes, for the receiving side to check
( cd "$WH" && sha256sum -- *.whl > SHA256SUMS )
echo "wheelhouse: $(ls "$WH"/*.whl | wc -l) wheels, $(du -sh "$WH" | cut -f1) in $WH"
