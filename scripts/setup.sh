#!/usr/bin/env bash
# One-time set-up on a Debian machine: system packages (qemu-user, the ARM
# cross compilers, openssh, adb), a Python 3.10 virtual environment with the pinned stack,
# the Paddle Lite 2.10 opt (Python 3.9) for old-runtime .nb files, and the
# ARM runtimes with their runners built. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

need_apt=()
command -v qemu-aarch64 >/dev/null || need_apt+=(qemu-user)
command -v aarch64-linux-gnu-g++ >/dev/null || need_apt+=(g++-aarch64-linux-gnu)
command -v arm-linux-gnueabihf-g++ >/dev/null || need_apt+=(g++-arm-linux-gnueabihf)
command -v unshare >/dev/null || need_apt+=(util-linux)
# boards: the tests start a real sshd (an emulated board on loopback); adb for phones
command -v ssh >/dev/null || need_apt+=(openssh-client)
[ -x /usr/sbin/sshd ] || need_apt+=(openssh-server)
command -v adb >/dev/null || need_apt+=(adb)
# CJK and Hangul glyphs for the synthetic words of the Chinese, Japanese and Korean recognizers
[ -f /usr/share/fonts/truetype/wqy/wqy-zenhei.ttc ] || need_apt+=(fonts-wqy-zenhei)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "== installing ${need_apt[*]}"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

find_python() {  # $1 = version, e.g. 3.10
  local v=$1 p
  for p in "python$v" "$(pyenv root 2>/dev/null)/versions/$v"*/bin/"python$v"; do
    if [ -n "$p" ] && "$p" -c 'import sys' >/dev/null 2>&1; then echo "$p"; return 0; fi
  done
  return 1
}

PY310=$(find_python 3.10) || { echo "error: Python 3.10 not found (Paddle Lite wheels stop at cp310); install it, e.g. pyenv install 3.10" >&2; exit 2; }
if [ ! -x .venv/bin/python ]; then
  echo "== creating .venv with $PY310"
  "$PY310" -m venv .venv
fi
echo "== installing the Python stack (paddlepaddle 2.6.2, paddleslim 2.6.0, paddlelite 2.13rc0)"
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e ".[test]"

# The 2.10 opt writes .nb files for the v2.10-rc runtime (the official v2.0-era
# slim models); its wheel exists only up to Python 3.9.
if PY39=$(find_python 3.9); then
  if [ ! -x .venv39/bin/python ]; then "$PY39" -m venv .venv39; fi
  .venv39/bin/python -m pip install -q "paddlelite==2.10rc0"
else
  echo "notice: Python 3.9 not found; \`lite opt --opt-version v2.10-rc\` will be unavailable"
fi

SHARED=${OCRSLIM_SHARED:-$ROOT/../shared}
echo "== registering ARM runtimes"
if [ -d "$SHARED/lite-runtime" ]; then
  for d in "$SHARED"/lite-runtime/paddlelite-*-armlinux; do .venv/bin/lite runtime add "$d"; done
else
  # Paddle Lite's own release archives (OCRSLIM_LITE_RELEASE_URL: a mirror laid out as the release)
  have() { .venv/bin/lite runtime list | grep -q "^$1 *armv8 "; }
  have v2.13-rc || .venv/bin/lite runtime fetch v2.13-rc --arch armv8 armv7hf
  # optional: one notice line with the reason, not an error, when it cannot be had
  have v2.10-rc || why=$(.venv/bin/lite runtime fetch v2.10-rc 2>&1 >/dev/null) \
    || echo "notice: no v2.10-rc runtime (only the official v2.0-era slim .nb files need it): ${why#error: }"
fi
.venv/bin/lite runtime build
echo "== set-up done"
