#!/usr/bin/env bash
# Provisions the browser the test suite's web-page test drives (test/server/serve.test.ts): Debian's Chromium at
# /usr/bin/chromium, installed from Debian when it is missing and this machine can install packages (root, or
# password-less sudo). `npm test` runs this first (the `pretest` script), so the README's test command works on a
# fresh machine. NPAD_CHROMIUM=/path uses another browser; NPAD_SKIP_BROWSER=1 skips the browser test instead.
set -euo pipefail
if [ "${NPAD_SKIP_BROWSER:-}" = 1 ] || [ -x "${NPAD_CHROMIUM:-/usr/bin/chromium}" ]; then exit 0; fi
if [ "$(id -u)" = 0 ]; then as_root=(); elif sudo -n true 2>/dev/null; then as_root=(sudo -n); else
  echo "npm test: no Chromium at ${NPAD_CHROMIUM:-/usr/bin/chromium} and no right to install it: run" \
    "'apt-get install chromium' as root, set NPAD_CHROMIUM to a Chromium, or NPAD_SKIP_BROWSER=1 to skip the browser test" >&2
  exit 1
fi
if ! command -v apt-get >/dev/null; then
  echo "npm test: no Chromium and no apt-get to install it: set NPAD_CHROMIUM to a Chromium, or NPAD_SKIP_BROWSER=1" >&2
  exit 1
fi
echo "npm test: installing Chromium from Debian for the web page's browser test" >&2
"${as_root[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${as_root[@]}" apt-get install -y -qq chromium >/dev/null
