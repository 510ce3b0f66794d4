#!/usr/bin/env bash
# Fetch the real Uniswap contract artifacts the router's conformance tests run in revm:
#   @uniswap/v2-core 1.0.1  build/ERC20.json, UniswapV2Factory.json, UniswapV2Pair.json
#   @uniswap/v3-core 1.0.1  artifacts/contracts/UniswapV3Factory.sol/UniswapV3Factory.json,
#                           artifacts/contracts/UniswapV3Pool.sol/UniswapV3Pool.json
# with `npm pack` (versions pinned, integrity checked by npm against the registry) into a cache
# directory. Nothing is committed to the repository.
#
# Usage: fetch_uniswap_artifacts.sh [CACHE_DIR]
#   CACHE_DIR defaults to $CLEARHOUSE_UNISWAP_ARTIFACTS, then ~/.cache/clearhouse/uniswap-artifacts.
# Prints the cache directory on success. Exits non-zero if npm is missing or the fetch fails.
set -euo pipefail
cache="${1:-${CLEARHOUSE_UNISWAP_ARTIFACTS:-${HOME}/.cache/clearhouse/uniswap-artifacts}}"
if [ -f "${cache}/v2/build/UniswapV2Pair.json" ] && [ -f "${cache}/v3/artifacts/contracts/UniswapV3Pool.sol/UniswapV3Pool.json" ]; then
  echo "${cache}"
  exit 0
fi
command -v npm >/dev/null 2>&1 || { echo "npm is not installed" >&2; exit 2; }
mkdir -p "${cache}"
work="$(mktemp -d)"
trap 'rm -rf "${work}"' EXIT
(cd "${work}" && npm pack --silent @uniswap/v2-core@1.0.1 @uniswap/v3-core@1.0.1 >/dev/null)
# Unpack beside the cache and move into place, so a reader never sees a half-written package.
for pkg in v2 v3; do
  staged="$(mktemp -d "${cache}/.${pkg}.XXXXXX")"
  tar xzf "${work}"/uniswap-${pkg}-core-1.0.1.tgz -C "${staged}" --strip-components=1
  rm -rf "${cache:?}/${pkg}"
  mv "${staged}" "${cache}/${pkg}"
done
echo "${cache}"
