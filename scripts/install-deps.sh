#!/usr/bin/env bash
# Installs the Debian 12 packages ocibake needs to build, test and run, if missing.
# Needs root (or sudo). Usage: scripts/install-deps.sh [--dry-run]
set -euo pipefail

packages=(
  # build
  build-essential cmake pkg-config clang-format
  libssl-dev libcurl4-openssl-dev libarchive-dev zlib1g-dev libzstd-dev libdeflate-dev
  nlohmann-json3-dev libtomlplusplus-dev libcli11-dev catch2
  # the sanitizer build and the fuzz targets (clang, libFuzzer, ASan/UBSan runtimes)
  clang libclang-rt-14-dev
  # tests: real clients and runtimes check our output (xmllint: JUnit reports)
  skopeo umoci runc podman gpgv docker-registry apache2-utils python3 openssl libxml2-utils
  # YAML CDI specs are checked against PyYAML
  python3-yaml
  # Python tests: Debian's wheels, and what builds test wheels offline (a C extension too)
  python3-pip-whl python3-setuptools-whl python3-wheel-whl python3-setuptools python3-wheel
  python3-dev python3-pip
  # apt tests: a signed local repository of real Debian packages
  gnupg apt-utils dpkg-dev xz-utils
  # the default recipe copies Debian's static busybox
  busybox-static
  # `ocibake run`: the container's way out (outbound network, DNS); `script` for -t tests
  slirp4netns bsdutils
  # benchmarks
  pigz zstd hyperfine time jq mmdebstrap bc
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi
echo "install-deps: installing ${missing[*]}"
if [ "${1:-}" = "--dry-run" ]; then
  exit 0
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  sudo="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
