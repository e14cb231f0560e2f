"""The one check for names that become file names: generated hostile names are all refused, and never lead out of
the directory; unusual legitimate names (IPv6, Unicode, spaces, colons, leading dashes) all work."""

import os
import random
import re

import pytest

from ansible_collections.armvirt.cpu.plugins.module_utils._common import paths
from ansible_collections.armvirt.cpu.plugins.module_utils._host import cache, collect
from ansible_collections.armvirt.cpu.plugins.plugin_utils import _fleet_view

SEED = int(os.environ.get("ARMVIRT_PATHS_SEED", "20261129"))
GENERATED = 2000

FIXED_HOSTILE = {
    "../../fleet": "it contains '/'",
    "../../../pwned": "it contains '/'",
    "rack1/../../escape": "it contains '/'",
    "../../baseline": "it contains '/'",
    "..": "it is '..'",
    ".": "it is '.'",
    "": "it is empty",
    "/etc/passwd": "it contains '/'",
    "a/b": "it contains '/'",
    "trailing/": "it contains '/'",
    "nul\0byte": "it contains a NUL character",
    "x" * 256: "it is 256 bytes long",
    "é" * 128: "it is 256 bytes long",
    "lone\udc80surrogate": "lone surrogate",
}
LEGITIMATE = ["fe80::1", "2001:db8::42", "[fe80::1%eth0]", "hôte-é", "hôte é", "a:b", "rack1.example.com",
              "-leading-dash", "--", "with space", "under_score", "...", ".hidden", "x..y", "host\\back", "ホスト",
              "emoji-🖥", "tab\there", "x" * 250, "é" * 125, "a;b|c$(d)", "'quoted\"", "*", "~", "%2e%2e"]


def hostile_names(rng, count):
    """Names that each contain '/' or NUL, are '.'/'..'/empty, or are too long, in many shapes."""
    parts = ["..", ".", "", "a", "fleet", "é", " ", ":", "x" * 40]
    names = []
    for index in range(count):
        kind = index % 4
        if kind == 0:      # a path: components joined by one or more slashes, maybe absolute
            name = "/".join(rng.choices(parts, k=rng.randint(2, 6)))
            name = ("/" if rng.random() < 0.3 else "") + name
            name = name if "/" in name else name + "/"
        elif kind == 1:    # a NUL anywhere
            text = "".join(rng.choices("ab.:é ", k=rng.randint(0, 12)))
            cut = rng.randint(0, len(text))
            name = text[:cut] + "\0" + text[cut:]
        elif kind == 2:    # too long once encoded
            unit = rng.choice(["x", "é", "ホ", "🖥"])
            size = len(unit.encode("utf-8"))
            name = unit * (paths.MAX_COMPONENT_BYTES // size + 1)
        else:
            name = rng.choice([".", "..", ""])
        names.append(name)
    return names


def test_generated_hostile_names_are_refused_and_never_joined(tmp_path, capsys):
    print("seed %d (ARMVIRT_PATHS_SEED repeats a run)" % SEED)
    rng = random.Random(SEED)
    names = hostile_names(rng, GENERATED)
    reasons = set()
    for name in names:
        problem = paths.component_problem(name)
        assert problem, repr(name)
        reasons.add(re.sub(r"(?<!UTF-)[0-9]+", "N", problem))
        with pytest.raises(paths.PathError):
            paths.join(str(tmp_path), name, ".json")
    assert os.listdir(str(tmp_path)) == []
    assert reasons == {"it contains '/'", "it contains a NUL character", "it is '.'", "it is '..'", "it is empty",
                       "it is N bytes long in UTF-8, more than the N of a file name"}


@pytest.mark.parametrize("name, reason", sorted(FIXED_HOSTILE.items()))
def test_fixed_hostile_names_are_refused_with_their_reason(tmp_path, name, reason):
    assert reason in paths.component_problem(name)
    with pytest.raises(paths.PathError, match="cannot name a file in"):
        paths.join(str(tmp_path), name)


@pytest.mark.parametrize("name", LEGITIMATE)
def test_unusual_legitimate_names_work_and_stay_in_the_directory(tmp_path, name):
    assert paths.component_problem(name, ".json") is None
    path = paths.join(str(tmp_path), name, ".json")
    assert os.path.dirname(path) == str(tmp_path) and os.path.basename(path) == name + ".json"
    with open(path, "w", encoding="utf-8") as handle:   # the filesystem takes it as it is
        handle.write("{}")
    assert os.listdir(str(tmp_path)) == [name + ".json"]
    assert _fleet_view.host_name_problem(name) is None


def test_the_suffix_counts_towards_the_length():
    assert paths.component_problem("x" * 255) is None
    assert "260 bytes long in UTF-8 with '.json'" in paths.component_problem("x" * 255, ".json")


def test_a_symlink_in_the_files_place_that_leads_out_is_refused(tmp_path):
    inside = tmp_path / "artifacts" / "rollout" / "hosts"
    inside.mkdir(parents=True)
    (tmp_path / "artifacts" / "fleet.json").write_text("{}")
    (inside / "evil.json").symlink_to(tmp_path / "artifacts" / "fleet.json")
    with pytest.raises(paths.PathError, match="symlink that leads out"):
        paths.join(str(inside), "evil", ".json")
    (inside / "twin.json").symlink_to(inside / "other.json")   # a link that stays in the directory is a file there
    assert paths.join(str(inside), "twin", ".json") == str(inside / "twin.json")


def test_a_directory_that_does_not_exist_yet_is_checked_by_name(tmp_path):
    missing = tmp_path / "not-yet"
    assert paths.join(str(missing), "fe80::1", ".json") == str(missing / "fe80::1.json")
    with pytest.raises(paths.PathError):
        paths.join(str(missing), "..", ".json")


def test_the_host_message_names_the_host_and_why():
    assert _fleet_view.host_name_problem("../../fleet") == (
        "host '../../fleet': its inventory name cannot be a file name (it contains '/'); rename it in the inventory")
    assert "it is '..'" in _fleet_view.host_name_problem("..")


def test_the_cache_file_name_is_checked_and_a_symlink_is_left_to_the_cache(tmp_path):
    with pytest.raises(cache.CacheError, match="cannot name a file: it contains '/'"):
        collect.cache_path(str(tmp_path), "/usr/bin/qemu-system-aarch64", "../../kvm")
    path = collect.cache_path(str(tmp_path), "/usr/bin/qemu-system-aarch64", "kvm")
    os.symlink(str(tmp_path.parent / "elsewhere.xml"), path)
    assert collect.cache_path(str(tmp_path), "/usr/bin/qemu-system-aarch64", "kvm") == path
    with pytest.raises(cache.CacheError, match="is a symlink; refusing to follow it"):
        cache.read_bytes(path)


def test_a_symlinked_folder_between_the_root_and_the_file_is_refused(tmp_path):
    root, elsewhere = tmp_path / "artifacts", tmp_path / "elsewhere"
    root.mkdir()
    elsewhere.mkdir()
    (root / "policies").symlink_to(elsewhere, target_is_directory=True)
    # the folder alone looks fine: the file stays in it
    assert paths.join(str(root / "policies"), "fleet", ".yml") == str(root / "policies" / "fleet.yml")
    with pytest.raises(paths.PathError, match="through a symlinked folder"):
        paths.join(str(root / "policies"), "fleet", ".yml", root=str(root))
    (root / "snapshots").mkdir()
    assert paths.join(str(root / "snapshots"), "000001-x", ".json", root=str(root)) == str(
        root / "snapshots" / "000001-x.json")
