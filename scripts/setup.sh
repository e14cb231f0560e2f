# shellcheck shell=bash
# Shared set-up for scripts/demo, scripts/test and scripts/bench (sourced, not run).
# Installs what the project needs on a fresh Debian 12 or 13 machine with its Python 3 and is a no-op when all is
# there:
#   - Debian packages: python3-venv (for .venv), qemu-system-arm (the real emulator), libvirt0 (libvirt's RelaxNG
#     schemas), openssh-client (the demo's unreachable host), shellcheck (ansible-test sanity), libvirt-daemon,
#     libvirt-daemon-driver-qemu, libvirt-clients and python3-libvirt (a real libvirtd for the existing-guests tests),
#     chromium (the fleet report's headless browser test);
#   - on a Debian whose own QEMU is older than 10.0 (Debian 12), its backports suite's qemu-system-arm and
#     libvirt-common (libvirt 11.3's schemas and CPU map) unpacked under .build/backports, installed nowhere: the
#     tests judge the collection against both stacks;
#   - .venv with the pinned Python packages of requirements/test.txt;
#   - .build/collections/ansible_collections/armvirt/cpu, a link to this checkout, so that Ansible and pytest
#     import the collection under its real name;
#   - .build/home, a private home for the tools (below): what they write stays in the checkout.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV="$ROOT/.venv"
BUILD="$ROOT/.build"
DEBIAN_PACKAGES=(python3-venv qemu-system-arm libvirt0 openssh-client shellcheck libvirt-daemon libvirt-daemon-driver-qemu libvirt-clients python3-libvirt chromium qemu-efi-aarch64)

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

# The newer stack of the tests' matrix (docs/development.md, "Versions in the tests"): Debian 13 ships QEMU 10.0
# and libvirt 11.3 itself; on an older Debian (12: QEMU 7.2, libvirt 9.0) its backports suite's builds of
# qemu-system-arm (which runs on bookworm's libraries) and libvirt-common (11.x keeps its schemas and CPU map there,
# 9.0 in libvirt0) are downloaded with apt-get into private lists and unpacked with dpkg -x under
# .build/backports/PACKAGE, beside the system's: nothing on the system changes.
BACKPORTS_DIR="$BUILD/backports"

install_backports() {
    local system_major codename state pkg debs
    system_major=$(qemu-system-aarch64 --version 2>/dev/null \
        | sed -n 's/^QEMU emulator version \([0-9]*\)\..*/\1/p')
    [ -n "$system_major" ] && [ "$system_major" -lt 10 ] || return 0
    [ -f "$BACKPORTS_DIR/.complete" ] && return 0
    codename=$(sed -n 's/^VERSION_CODENAME=//p' /etc/os-release 2>/dev/null)
    [ -n "$codename" ] || { log "no VERSION_CODENAME in /etc/os-release: no backports fetched"; return 0; }
    log "unpacking qemu-system-arm and libvirt-common from $codename-backports into $BACKPORTS_DIR"
    state=$(mktemp -d)
    mkdir -p "$state/lists/partial" "$state/cache/archives/partial" "$state/debs"
    echo "deb http://deb.debian.org/debian $codename-backports main" > "$state/sources.list"
    local apt=(-q -o "Dir::Etc::SourceList=$state/sources.list" -o Dir::Etc::SourceParts=/dev/null
               -o "Dir::State::Lists=$state/lists" -o "Dir::Cache=$state/cache" -o APT::Sandbox::User=root)
    rm -rf "$BACKPORTS_DIR" && mkdir -p "$BACKPORTS_DIR"
    if apt-get "${apt[@]}" update >/dev/null 2>&1; then
        for pkg in qemu-system-arm libvirt-common; do
            (cd "$state/debs" && apt-get "${apt[@]}" download "$pkg/$codename-backports" >/dev/null 2>&1) || break
            debs=("$state/debs/${pkg}_"*.deb)
            dpkg -x "${debs[0]}" "$BACKPORTS_DIR/$pkg" || break
        done
    fi
    if [ -x "$BACKPORTS_DIR/qemu-system-arm/usr/bin/qemu-system-aarch64" ] \
            && [ -d "$BACKPORTS_DIR/libvirt-common/usr/share/libvirt/schemas" ]; then
        touch "$BACKPORTS_DIR/.complete"
    else
        log "could not fetch qemu-system-arm and libvirt-common from $codename-backports: their tests fail in CI"
    fi
    rm -rf "$state"
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
install_backports
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
