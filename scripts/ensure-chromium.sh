#!/bin/sh
# Prints the path of a Chromium the browser tests can drive (puppeteer-core), installing Debian's
# `chromium` package first when none is on PATH and we run as root (as CI does, on a clean Debian
# machine). puppeteer's own browser download is never used: it fetches from a CDN that CI cannot
# reach, while the Debian mirrors are. Exit 0 with the path on stdout, or exit 1 with the reason on
# stderr (the tests then skip, saying why).
set -u

find_chromium() {
  if [ -n "${ZHUMQ_CHROMIUM:-}" ] && [ -x "${ZHUMQ_CHROMIUM}" ]; then echo "${ZHUMQ_CHROMIUM}"; return 0; fi
  for name in chromium chromium-browser google-chrome-stable google-chrome; do
    found=$(command -v "$name" 2>/dev/null) && { echo "$found"; return 0; }
  done
  return 1
}

if find_chromium; then exit 0; fi

if [ "$(id -u)" != "0" ]; then
  echo "no chromium on PATH, and not root, so it cannot be installed here (install Debian's 'chromium' package, or set ZHUMQ_CHROMIUM to a Chromium binary)" >&2
  exit 1
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "no chromium on PATH and no apt-get to install it with (set ZHUMQ_CHROMIUM to a Chromium binary)" >&2
  exit 1
fi

log=$(mktemp)
export DEBIAN_FRONTEND=noninteractive
# Try without refreshing the package lists first (fast when they are fresh), then refresh and retry.
if ! apt-get install -y --no-install-recommends chromium >"$log" 2>&1; then
  if ! { apt-get update && apt-get install -y --no-install-recommends chromium; } >>"$log" 2>&1; then
    echo "apt-get install chromium failed:" >&2
    tail -n 20 "$log" >&2
    rm -f "$log"
    exit 1
  fi
fi
rm -f "$log"

if find_chromium; then exit 0; fi
echo "apt-get installed chromium, but no chromium binary is on PATH" >&2
exit 1
