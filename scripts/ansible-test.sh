# shellcheck shell=bash
# What scripts/sanity, scripts/sanity-all and scripts/units share (sourced after scripts/setup.sh, not run).
# ansible-test runs only from a real ansible_collections/NAMESPACE/NAME tree (it refuses our symlinked one), and the
# virtual environments of its sanity tests bootstrap pip from a get-pip.py it would download: both are set up here.
# ansible-test keeps its state under ~/.ansible/test (that get-pip.py, the sanity virtual environments, an SSH key) and
# passes only HOME and PATH on to what it runs (ANSIBLE_HOME does not reach a test): it runs in its own home of
# scripts/setup.sh, ANSIBLE_TEST_HOME (a temporary directory kept between runs), like everything it starts.
export HOME="$ANSIBLE_TEST_HOME"

# copy_collection_tree DIR: a fresh copy of the tracked and untracked (not ignored) files under
# DIR/ansible_collections/armvirt/cpu, as its own git repository; prints that path.
copy_collection_tree() {
    local tree="$1/ansible_collections/armvirt/cpu"
    rm -rf "$1"
    mkdir -p "$tree"
    # files deleted in the working tree but still tracked are skipped (cp fails on them, quietly)
    (cd "$ROOT" && git ls-files -co --exclude-standard -z | xargs -0 cp --parents -t "$tree" 2>/dev/null) || true
    (cd "$tree" && git init -q . && git add -A >/dev/null)
    printf '%s\n' "$tree"
}

# offline_get_pip: an offline stand-in for get-pip.py at the cache path ansible-test 2.19 reads before downloading
# (~/.ansible/test/cache, in the private home).
offline_get_pip() {
    local get_pip="$HOME/.ansible/test/cache/get_pip_24_2.py"  # the pip version ansible-test 2.19 bootstraps
    mkdir -p "$(dirname "$get_pip")"
    cat > "$get_pip" <<'PY'
"""Offline stand-in for get-pip.py: bootstrap pip from ensurepip, then install what was asked."""
import subprocess
import sys
args = [a for a in sys.argv[1:] if a not in ("--no-setuptools", "--no-wheel")]
subprocess.check_call([sys.executable, "-m", "ensurepip", "--upgrade", "--default-pip"])
if args:
    subprocess.check_call([sys.executable, "-m", "pip", "install"] + args)
PY
}

# python_version: X.Y of the Python in use (the venv's), which ansible-test is asked to test with.
python_version() {
    python -c 'import sys; print("%d.%d" % sys.version_info[:2])'
}
