"""Hostile and damaged cache files, beyond tests/unit/plugins/module_utils/_host/test_cache.py (which already has 200
SIGKILLed writers, 8 concurrent writers, every 7th truncation of a sample file, and the refusal cases in-process).

Here: a real cache (written from a simulated host's probe) cut at every byte offset; damaged and hostile files at the
path the real modules read; XML bomb and external entity never expanded, with time and memory measured; symlink and
world-writable file or directory refused by both modules with a clear message; modes of written files.
"""

import os
import re
import stat
import time
import tracemalloc

import pytest

from ansible_collections.armvirt.cpu.plugins.module_utils._host import cache, collect
from armsim import write_wrapper
from conftest import run_module, run_modules


def _lol(level):
    return b"&lol%s;" % (b"%d" % (level - 1) if level > 1 else b"")


BILLION_LAUGHS = (b'<?xml version="1.0"?>\n<!DOCTYPE lolz [<!ENTITY lol "lol">'
                  + b"".join(b'<!ENTITY lol%d "%s">' % (level, _lol(level) * 10) for level in range(1, 10))
                  + b']>\n<cpuPropertyInfo format="2">&lol9;</cpuPropertyInfo>\n')
XXE = (b'<?xml version="1.0"?>\n<!DOCTYPE cpuPropertyInfo [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>\n'
       b'<cpuPropertyInfo format="2"><fingerprint/><supported>yes</supported><reason>&xxe;</reason>'
       b"<properties/></cpuPropertyInfo>\n")
PARAMETER_XXE = (b'<?xml version="1.0"?>\n<!DOCTYPE x [<!ENTITY % p SYSTEM "file:///etc/passwd"> %p;]>\n'
                 b'<cpuPropertyInfo format="2"/>\n')


@pytest.fixture(scope="module")
def host(tmp_path_factory):
    """A simulated host's emulator, its probe result and the real cache file bytes for it."""
    base = tmp_path_factory.mktemp("cachehost")
    emulator = write_wrapper(str(base / "qemu-system-aarch64"), "neoverse-v1")
    props = collect.probe_host(emulator, "kvm", 20.0)
    fp = cache.fingerprint(emulator, "kvm")
    return {"emulator": emulator, "props": props, "fp": fp, "good": cache.dumps(props, fp), "base": base}


def test_real_cache_truncated_at_every_byte_offset(host):
    good, fp = host["good"], host["fp"]
    assert cache.loads(good, fp)[1] == "valid"
    end = len(good.rstrip())
    reasons = set()
    for size in range(len(good)):
        got, why = cache.loads(good[:size], fp)  # never raises: a return value is the contract
        if size < end:
            assert got is None and why.startswith("corrupt"), (size, why)
            reasons.add(why.split(":")[0])
        else:  # only trailing whitespace is missing
            assert why == "valid", (size, why)
    assert reasons == {"corrupt"}
    print("\ntruncation: %d offsets of a %d-byte cache from neoverse-v1, all invalid before byte %d"
          % (len(good), len(good), end))


@pytest.mark.parametrize("data, expected", [(BILLION_LAUGHS, "DOCTYPE refused"), (XXE, "DOCTYPE refused"),
                                            (PARAMETER_XXE, "DOCTYPE refused")],
                         ids=["billion-laughs", "external-entity", "parameter-entity"])
def test_entities_are_never_expanded_and_cost_nothing(host, data, expected):
    tracemalloc.start()
    started = time.monotonic()
    try:
        got, why = cache.loads(data, host["fp"])
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert (got, why) == (None, expected)
    assert time.monotonic() - started < 1.0  # a 10**9-fold expansion would take minutes and gigabytes
    assert peak < 1024 * 1024, peak


def test_deeply_nested_xml_is_invalid_not_a_crash(host):
    data = b'<cpuPropertyInfo format="2">' + b"<a>" * 200000 + b"</a>" * 200000 + b"</cpuPropertyInfo>"
    got, why = cache.loads(data, host["fp"])
    assert got is None and why.startswith("corrupt"), why


# ------------------------------------------------------------------------------------------------ through the modules


def cache_file(host, cache_dir):
    return collect.cache_path(str(cache_dir), host["emulator"], "kvm")


def plant(path, data, mode=0o644):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as handle:
        handle.write(data)
    os.chmod(path, mode)


def module_args(host, cache_dir):
    return {"emulator": host["emulator"], "accel": "kvm", "cache_dir": str(cache_dir), "timeout": 20}


def damaged(good):
    return {
        "truncated-early": (good[:len(good) // 3], "corrupt"),
        "truncated-late": (good[:len(good.rstrip()) - 1], "corrupt"),
        "wrong-version": (good.replace(b'format="2"', b'format="99"', 1), "format version 99, expected 2"),
        "foreign-root": (good.replace(b"cpuPropertyInfo", b"domainCapabilities"),
                         "foreign root element <domainCapabilities>"),
        "billion-laughs": (BILLION_LAUGHS, "DOCTYPE refused"),
        "external-entity": (XXE, "DOCTYPE refused"),
    }


UNSAFE = {
    "symlink": r"is a symlink; refusing to follow it",
    "world-writable-file": r"is world-writable; refusing to trust it",
    "world-writable-dir": r"is world-writable; refusing to use it",
}
MODULES = ("props_facts", "props_cache")


def make_unsafe(host, cache_dir, kind):
    path = cache_file(host, cache_dir)
    if kind == "symlink":
        target = str(cache_dir.parent / "elsewhere.xml")
        plant(target, host["good"])
        os.makedirs(str(cache_dir), exist_ok=True)
        os.symlink(target, path)
    elif kind == "world-writable-file":
        plant(path, host["good"], 0o666)
    else:
        plant(path, host["good"])
        os.chmod(str(cache_dir), 0o1777)
    return path


@pytest.fixture(scope="module")
def module_runs(host, tmp_path_factory):
    """Every damaged and every unsafe case, each in a directory of its own, through the real modules in one
    ansible-playbook run (one task per case): {case: (cache directory, cache file, its lstat before, ModuleRun)}."""
    base = tmp_path_factory.mktemp("cache-cases")
    cases, calls = {}, []
    for case, (data, _reason) in sorted(damaged(host["good"]).items()):
        cache_dir = base / case / "cache"
        path = cache_file(host, cache_dir)
        plant(path, data)
        cases[case] = (cache_dir, path, None)
        calls.append(("props_facts", module_args(host, cache_dir)))
    for module in MODULES:
        for kind in sorted(UNSAFE):
            cache_dir = base / ("%s-%s" % (module, kind)) / "cache"
            path = make_unsafe(host, cache_dir, kind)
            cases[(module, kind)] = (cache_dir, path, os.lstat(path))
            calls.append((module, module_args(host, cache_dir)))
    runs = run_modules(calls, base / "play")
    return {case: info + (run,) for (case, info), run in zip(cases.items(), runs)}


@pytest.mark.parametrize("case", sorted(damaged(b"")))
def test_damaged_cache_makes_props_facts_re_probe(host, module_runs, case):
    data, reason = damaged(host["good"])[case]
    _cache_dir, path, _before, run = module_runs[case]
    assert not run.failed, run.output
    assert run.result["cache"]["status"].startswith(reason), run.result["cache"]
    fact = run.result["ansible_facts"]["arm_cpu_props"]
    assert fact["source"] == "probe"
    assert fact["properties"] == host["props"].to_fact("kvm", host["emulator"], "probe")["properties"]
    assert "root:x:0:0" not in run.output and "lollol" not in run.output
    with open(path, "rb") as handle:
        assert handle.read() == data, "props_facts never writes the cache"


@pytest.mark.parametrize("module", MODULES)
@pytest.mark.parametrize("kind", sorted(UNSAFE))
def test_unsafe_cache_is_refused_by_the_module(host, module_runs, module, kind):
    cache_dir, path, before, run = module_runs[(module, kind)]
    assert run.failed, run.output
    msg = run.result["msg"]
    assert path in msg or str(cache_dir) in msg, msg
    assert re.search(UNSAFE[kind], msg), msg
    assert "Traceback" not in run.output
    after = os.lstat(path)
    assert (after.st_ino, after.st_mtime_ns, after.st_mode) == (before.st_ino, before.st_mtime_ns, before.st_mode)
    if kind == "symlink":
        with open(str(cache_dir.parent / "elsewhere.xml"), "rb") as handle:
            assert handle.read() == host["good"], "the symlink's target was written through"


def test_props_cache_writes_0644_files_in_0755_dirs_whatever_the_umask(host, tmp_path):
    cache_dir = tmp_path / "new" / "cache"
    old = os.umask(0o077)
    try:
        run = run_module("props_cache", module_args(host, cache_dir))
    finally:
        os.umask(old)
    assert not run.failed and run.result["changed"] is True, run.output
    path = run.result["path"]
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o644
    assert stat.S_IMODE(os.stat(str(cache_dir)).st_mode) == 0o755
    assert stat.S_IMODE(os.stat(str(tmp_path / "new")).st_mode) == 0o755
    assert sorted(os.listdir(str(cache_dir))) == sorted([os.path.basename(path), os.path.basename(path) + ".lock"])
    assert cache.status(path, host["fp"])[1] == "valid"
