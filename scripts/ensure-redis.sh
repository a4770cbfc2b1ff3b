#!/usr/bin/env bash
# Provisions the Redis the queue tests start (test/queue/queue.test.ts): Debian's redis-server, installed from Debian
# when it is missing and this machine can install packages (root, or password-less sudo). `npm test` runs this first
# (the `pretest` script), so the README's test command works on a fresh machine. NPAD_REDIS_SERVER=/path uses another
# redis-server; NPAD_SKIP_REDIS=1 skips the queue tests instead. The tests only start it on a free local port.
set -euo pipefail
if [ "${NPAD_SKIP_REDIS:-}" = 1 ] || [ -x "${NPAD_REDIS_SERVER:-/usr/bin/redis-server}" ]; then exit 0; fi
if [ "$(id -u)" = 0 ]; then as_root=(); elif sudo -n true 2>/dev/null; then as_root=(sudo -n); else
  echo "npm test: no redis-server at ${NPAD_REDIS_SERVER:-/usr/bin/redis-server} and no right to install it: run" \
    "'apt-get install redis-server' as root, set NPAD_REDIS_SERVER to one, or NPAD_SKIP_REDIS=1 to skip the queue tests" >&2
  exit 1
fi
if ! command -v apt-get >/dev/null; then
  echo "npm test: no redis-server and no apt-get to install it: set NPAD_REDIS_SERVER to one, or NPAD_SKIP_REDIS=1" >&2
  exit 1
fi
echo "npm test: installing redis-server from Debian for the queue tests" >&2
"${as_root[@]}" apt-get update -qq
# Debian's package also starts a system service; the tests start their own server and do not use it.
DEBIAN_FRONTEND=noninteractive "${as_root[@]}" apt-get install -y -qq redis-server >/dev/null
