"""Guest XML against each libvirt the tests have: the system's data files (Debian 12: libvirt 9.0 in libvirt0) and
libvirt 11.3's (Debian 13's own; on Debian 12 bookworm-backports' libvirt-common, which scripts/setup.sh unpacks
under .build/backports). What is checked is libvirt's meaning (its schema accepts the document, its Arm CPU map
knows the names put in <cpu>), never one version's bytes."""

import gzip
import json
import os
import pathlib
import re
from xml.etree import ElementTree

import pytest

from ansible_collections.armvirt.cpu.plugins.module_utils._common import names
from ansible_collections.armvirt.cpu.plugins.module_utils._libvirt import caps
from ansible_collections.armvirt.cpu.plugins.plugin_utils import domains, libvirt_schema
from ansible_collections.armvirt.cpu.tests.unit.plugins.module_utils.module_runner import run_command

ROOT = pathlib.Path(__file__).resolve().parents[2]
FACTS = ROOT / "tests" / "fixtures" / "facts"
SVE = ["sve"] + ["sve%d" % (128 * n) for n in range(1, 17)]
# What each libvirt's Arm CPU map (cpu_map/arm_features.xml) defines: libvirt 11.0 added pauth.
ARM_FEATURES = {9: SVE, 11: SVE + ["pauth"]}
# per profile: the common request, and a second guest's own features (names the CPU maps know, where the host has them)
REQUESTS = {
    "neoverse-v1": ([{"name": "feat_RAS", "value": "1.0"}, {"name": "hw_prop_WRPs", "value": "0x2"}],
                    [{"name": "sve256"}, {"name": "sve512", "value": "off"}]),
    "neoverse-n1": ([{"name": "feat_RAS", "value": "1.0"}], [{"name": "hw_prop_WRPs", "value": "3"}]),
    "qemu-7.2-released": ([{"name": "pauth", "policy": "disable"}], [{"name": "sve256"}, {"name": "sve512",
                                                                                          "value": "off"}]),
}


def _package_version(share):
    """The Debian version of the package that put ``share`` (usr/share/libvirt) there, from its changelog."""
    for package in ("libvirt-common", "libvirt0"):
        changelog = share.parent / "doc" / package / "changelog.Debian.gz"
        if changelog.is_file():
            with gzip.open(str(changelog), "rt") as handle:
                match = re.match(r"\S+ \(([^)]+)\)", handle.readline())
            if match:
                return match.group(1)
    return None


def _libvirts():
    found = []
    for share in (pathlib.Path("/usr/share/libvirt"),
                  ROOT / ".build" / "backports" / "libvirt-common" / "usr" / "share" / "libvirt"):
        version = _package_version(share) if (share / "schemas" / "domain.rng").is_file() else None
        if version:
            upstream = re.match(r"(?:\d+:)?(\d+)\.(\d+)", version)
            found.append(pytest.param((share, (int(upstream.group(1)), int(upstream.group(2)))),
                                      id="libvirt-%s.%s" % upstream.groups()))
    return found


LIBVIRTS = _libvirts()


@pytest.fixture(scope="module", params=LIBVIRTS or [None], ids=None if LIBVIRTS else ["no-libvirt"])
def libvirt_data(request):
    """(usr/share/libvirt of one version, (major, minor)). In CI libvirt 9.0 and 11.x must both be there."""
    if os.environ.get("CI"):
        majors = sorted(param.values[0][1][0] for param in LIBVIRTS)
        assert 9 in majors and 11 in majors, "CI needs the data files of libvirt 9.0 and 11.x, found %s" % majors
    if request.param is None:
        pytest.skip("libvirt's data files (Debian libvirt0) are not installed")
    return request.param


def test_the_arm_cpu_map_knows_what_that_version_defines(libvirt_data):
    share, version = libvirt_data
    names, files, error = caps.cpu_map_features(str(share / "cpu_map"))
    assert error is None and str(share / "cpu_map" / "arm_features.xml") in files
    assert names == ARM_FEATURES[version[0]]


@pytest.mark.parametrize("profile", sorted(REQUESTS))
@pytest.mark.parametrize("delivery", names.DELIVERIES)
def test_rendered_guests_pass_that_version_schema_and_cpu_map(libvirt_data, profile, delivery):
    share, version = libvirt_data
    fact = json.loads((FACTS / ("%s.json" % profile)).read_text())
    libvirt = caps.gather(run_command(), schema_dir=str(share / "schemas"),
                          cpu_map_dir=str(share / "cpu_map"), ask_daemon=False)
    libvirt["version"] = "%d.%d.0" % version
    mode = "host-passthrough" if fact.get("accel") == "kvm" else "maximum"
    common, own = REQUESTS[profile]
    guests = [{"name": "web1", "memory": 2048, "vcpus": 2}, {"name": "db1", "memory": 4096, "vcpus": 4,
                                                             "features": own}]
    # <feature value=...> needs a patched libvirt, which a released one is not (the check refuses it there): that
    # delivery is checked against the version's schema with the RFC's overlay only
    checked = delivery != names.FEATURE_VALUE
    outcome = domains.build(guests, common, fact, mode=mode, host=profile, delivery=delivery,
                            schema_dir=str(share / "schemas"), libvirt=libvirt, libvirt_check=checked)
    assert outcome.errors == [], [error["message"] for error in outcome.errors]
    if checked:
        assert outcome.libvirt_check == "performed (libvirt %d.%d.0)" % version
    validator = libvirt_schema.domain_validator(str(share / "schemas"), allow_value=delivery == names.FEATURE_VALUE)
    known = set(ARM_FEATURES[version[0]])
    for name, document in outcome.documents:
        assert validator.errors(document) == [], (name, document)
        cpu = ElementTree.fromstring(document).find("cpu")
        assert cpu.get("mode") == mode
        in_cpu = {feature.get("name") for feature in cpu.iter("feature")}
        if delivery != names.FEATURE_VALUE:
            # a released libvirt refuses at start a name its CPU map lacks: only those may be in <cpu>
            assert in_cpu <= known, (name, sorted(in_cpu - known))
