#!/usr/bin/env bash
# One command from a fresh Debian 12 machine to an image: installs what is missing,
# builds ocibake (release), and builds the default recipe into out/hello.
# Extra arguments go to ocibake (e.g. `scripts/run.sh -o docker-archive:hello.tar`).
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh
cmake --preset release >/dev/null
cmake --build --preset release -j "$(nproc)" --target ocibake_cli
build/release/tools/ocibake recipes/hello.toml "$@"
