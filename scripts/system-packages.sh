#!/usr/bin/env bash
# Install the Debian packages hallctl needs beyond Python, when they are missing.
#   scripts/system-packages.sh demo   # mosquitto (the demo's private broker)
#   scripts/system-packages.sh test   # + chromium, espeak-ng, CJK fonts (end-to-end tests),
#                                     #   PostgreSQL's server binaries (tests start their own)
# Uses apt-get as root, or through sudo; does nothing when everything is there.
set -euo pipefail
what="${1:-test}"

need=()
command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ] || need+=(mosquitto)
python3 -c "import venv, ensurepip" >/dev/null 2>&1 || need+=(python3-venv)
if [ "$what" = "test" ]; then
    # The console's end-to-end tests drive Debian's chromium through Playwright (no browser
    # download); the hall screen's voice is espeak-ng's Mandarin; CJK fonts for screenshots.
    command -v chromium >/dev/null 2>&1 || need+=(chromium)
    command -v espeak-ng >/dev/null 2>&1 || need+=(espeak-ng)
    command -v strace >/dev/null 2>&1 || need+=(strace)  # injects store faults into a daemon
    fc-list 2>/dev/null | grep -qi "noto sans cjk" || need+=(fonts-noto-cjk)
    # The PostgreSQL store's tests run initdb + pg_ctl in a temp dir (tests/pg_cluster.py).
    compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || command -v initdb >/dev/null 2>&1 \
        || need+=(postgresql)
fi
[ ${#need[@]} -eq 0 ] && exit 0

echo "installing Debian packages: ${need[*]}"
sudo=""
if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null 2>&1 || { echo "run as root or install: ${need[*]}" >&2; exit 1; }
    sudo="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${need[@]}"
