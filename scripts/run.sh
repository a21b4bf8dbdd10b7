#!/usr/bin/env bash
# One command from a fresh Debian 12 machine to an image: installs what is missing,
# builds ocibake (release), and builds the default recipe, recipes/debian-pytorch.toml
# (the flagship's shape from Debian 12's archive, docs/flagship.md), into
# out/debian-pytorch. Extra arguments go to ocibake (e.g. `scripts/run.sh -o
# docker-archive:debian-pytorch.tar`); `ocibake test recipes/debian-pytorch.toml` then runs
# its tests under runc.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh
cmake --preset release >/dev/null
cmake --build --preset release -j "$(nproc)" --target ocibake_cli
build/release/tools/ocibake recipes/debian-pytorch.toml "$@"
