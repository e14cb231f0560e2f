# shellcheck shell=bash
# Shared set-up for scripts/demo, scripts/test and scripts/bench (sourced, not run).
# Installs what the project needs on a fresh Debian machine with Python 3.11 and is a no-op when all is there:
#   - Debian packages: qemu-system-arm (the real emulator), libvirt0 (libvirt's RelaxNG schemas), openssh-client
#     (the demo's unreachable host), shellcheck (ansible-test sanity), libvirt-daemon, libvirt-daemon-driver-qemu,
#     libvirt-clients and python3-libvirt (a real libvirtd for the existing-guests tests), chromium (the fleet
#     report's headless browser test);
#   - .venv with the pinned Python packages of requirements/test.txt;
#   - .build/collections/ansible_collections/armvirt/cpu, a link to this checkout, so that Ansible and pytest
#     import the collection under its real name;
#   - .build/home, a private home for the tools (below): what they write stays in the checkout.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV="$ROOT/.venv"
BUILD="$ROOT/.build"
DEBIAN_PACKAGES=(qemu-system-arm libvirt0 openssh-client shellcheck libvirt-daemon libvirt-daemon-driver-qemu libvirt-clients python3-libvirt chromium qemu-efi-aarch64)

log() { printf '[setup] %s\n' "$*" >&2; }

install_debian_packages() {
    local missing=()
    for pkg in "${DEBIAN_PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    local sudo=""
    if [ "$(id -u)" -ne 0 ]; then
        command -v sudo >/dev/null || { log "need root (or sudo) to install: ${missing[*]}"; return 1; }
        sudo="sudo"
    fi
    log "installing Debian packages: ${missing[*]}"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

install_venv() {
    local stamp="$VENV/.requirements.sha256" want
    want=$(sha256sum < "$ROOT/requirements/test.txt" | cut -d' ' -f1)
    if [ -x "$VENV/bin/python" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
        return 0
    fi
    command -v python3 >/dev/null || { log "python3 is required"; return 1; }
    python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { log "Python 3.11 or newer is required"; return 1; }
    log "creating $VENV with pinned requirements (first run takes a minute)"
    python3 -m venv "$VENV"
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check --upgrade pip 2>/dev/null || true
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check -r "$ROOT/requirements/test.txt" 2> >(grep -v "is ignored: it is neither" >&2)
    echo "$want" > "$stamp"
}

link_collection() {
    local ns="$BUILD/collections/ansible_collections/armvirt"
    mkdir -p "$ns"
    [ -L "$ns/cpu" ] || ln -sfn "$ROOT" "$ns/cpu"
}

# A private home for the tools, .build/home. Ansible's home (collections, galaxy cache, local temp, SSH control
# sockets), its remote temp and async job files for the local connection, and XDG caches (molecule, ansible-compat,
# pip, libvirt's client) point into it below. Tools that only know HOME (ansible-test, which passes nothing else to
# what it runs; antsibull's log) run with HOME set to it: scripts/ansible-test.sh, scripts/test. pip and git read the
# user's configuration from the home (an index mirror, a wheel directory, safe.directory), so those files are linked
# into it; nothing the scripts run writes them.
TOOLS_HOME="$BUILD/home"
# ansible-test's home is a temporary directory that outlives the checkout: its sanity virtual environments take
# minutes to build and are the same for every checkout of one requirements file, so a fresh clone reuses them.
ANSIBLE_TEST_HOME="/var/tmp/armvirt-cpu-ansible-test-$(id -u)"

make_tools_home() {  # make_tools_home DIR
    local config="${XDG_CONFIG_HOME:-$HOME/.config}" name home=$1
    mkdir -p "$home/.config"
    [ -d "$config/pip" ] && [ ! -e "$home/.config/pip" ] && ln -sfn "$config/pip" "$home/.config/pip"
    for name in .pip .pydistutils.cfg .gitconfig; do
        [ -e "$HOME/$name" ] && [ ! -e "$home/$name" ] && ln -sfn "$HOME/$name" "$home/$name"
    done
    return 0
}

install_debian_packages
install_venv
link_collection
if [ "$HOME" != "$TOOLS_HOME" ] && [ "$HOME" != "$ANSIBLE_TEST_HOME" ]; then
    make_tools_home "$TOOLS_HOME"
    make_tools_home "$ANSIBLE_TEST_HOME"
fi

export PATH="$VENV/bin:$PATH"
export ANSIBLE_COLLECTIONS_PATH="$BUILD/collections"
export ANSIBLE_COLLECTIONS_SCAN_SYS_PATH=false
export PYTHONDONTWRITEBYTECODE=1
export ANSIBLE_HOME="$TOOLS_HOME/.ansible"
export ANSIBLE_REMOTE_TEMP="$ANSIBLE_HOME/tmp"
export ANSIBLE_ASYNC_DIR="$ANSIBLE_HOME/async"
export XDG_CACHE_HOME="$TOOLS_HOME/.cache"
