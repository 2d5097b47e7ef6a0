#!/usr/bin/env bash
# Installs the Debian packages the tests use (chromium, redis-server) when they are missing.
set -euo pipefail

missing=()
command -v chromium >/dev/null 2>&1 || [ -x /usr/lib/chromium/chromium ] || missing+=(chromium)
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
    echo "Missing Debian packages: ${missing[*]}." >&2
    echo "Install them with: sudo apt-get install -y ${missing[*]}" >&2
    echo "(the browser and Redis tests are skipped without them)" >&2
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "Missing packages ${missing[*]} and no apt-get to install them; install them by hand." >&2
    exit 0
fi
echo "Installing ${missing[*]} with apt-get"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
