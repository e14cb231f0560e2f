"""The guest_domains action and module through real ansible-playbook runs on localhost."""

import json
import os
import pathlib
import subprocess
import sys

import pytest
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[4]
FACTS = ROOT / "tests" / "fixtures" / "facts"
FEATURES = [{"name": "feat_RAS", "value": "1.0"}, {"name": "hw_prop_API", "policy": "disable"},
            {"name": "hw_prop_WRPs", "value": "0x2"}]
GUESTS = [{"name": "web1", "memory": 2048, "vcpus": 2},
          {"name": "db1", "memory": 4096, "vcpus": 4, "features": [{"name": "hw_prop_WRPs", "value": "3"}]}]

pytestmark = pytest.mark.skipif(not os.path.isfile("/usr/share/libvirt/schemas/domain.rng"),
                                reason="libvirt's schemas (Debian libvirt0) are not installed")


def play(tmp_path, task_args, check=False, diff=False, gather_libvirt=True, fact="neoverse-v1.json"):
    """Run one guest_domains task; returns (registered result, output). The result is saved even on failure."""
    result_file = tmp_path / "result.json"
    facts = {"arm_cpu_props": json.loads((FACTS / fact).read_text()), "cacheable": True}
    tasks = [{"name": "facts", "ansible.builtin.set_fact": facts}]
    if gather_libvirt:
        tasks.append({"name": "libvirt", "armvirt.cpu.libvirt_facts": {"daemon": False}})
    tasks += [{"name": "domains", "armvirt.cpu.guest_domains": task_args, "register": "r", "ignore_errors": True},
              {"name": "save", "ansible.builtin.copy": {"content": "{{ r | to_json }}", "dest": str(result_file)},
               "check_mode": False, "diff": False}]
    playbook = tmp_path / "play.yml"
    playbook.write_text(yaml.safe_dump([{"hosts": "localhost", "gather_facts": False, "tasks": tasks}]))
    command = ["ansible-playbook", "-i", "localhost,", "-c", "local", "-e",
               "ansible_python_interpreter=%s" % sys.executable, str(playbook)]
    command += ["--check"] if check else []
    command += ["--diff"] if diff else []
    env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_DEPRECATION_WARNINGS="0")
    proc = subprocess.run(command, capture_output=True, text=True, env=env, timeout=180, check=False)
    assert result_file.exists(), proc.stdout + proc.stderr
    return json.loads(result_file.read_text()), proc.stdout + proc.stderr


def test_changed_then_unchanged_then_check_and_diff(tmp_path):
    out = tmp_path / "out"
    args = {"output_dir": str(out), "features": FEATURES, "guests": GUESTS, "delivery": "qemu-commandline"}
    first, _unused = play(tmp_path, args)
    assert first["changed"] is True and not first.get("failed"), first
    assert first["qemu_cpu_args"] == {"web1": "host,feat_RAS=1.0,hw_prop_API=off,hw_prop_WRPs=2",
                                      "db1": "host,feat_RAS=1.0,hw_prop_API=off,hw_prop_WRPs=3"}
    assert first["guests"]["web1"] == {"path": str(out / "web1.xml"), "changed": True, "status": "created",
                                       "qemu_cpu_arg": "host,feat_RAS=1.0,hw_prop_API=off,hw_prop_WRPs=2",
                                       "emulator": "/usr/bin/qemu-system-aarch64"}
    assert first["confirmations"] == [   # sorted by emulator, then -cpu value
        {"emulator": "/usr/bin/qemu-system-aarch64", "cpu_arg": first["qemu_cpu_args"][name], "guests": [name]}
        for name in ("web1", "db1")]
    assert first["libvirt_check"].startswith("performed")
    assert "<qemu:arg value='host,feat_RAS=1.0,hw_prop_API=off,hw_prop_WRPs=2'/>" in (out / "web1.xml").read_text()

    second, _unused = play(tmp_path, args)
    assert second["changed"] is False and second["guests"]["db1"]["status"] == "unchanged"

    args["guests"] = GUESTS + [{"name": "new1", "memory": 1024, "vcpus": 1}]
    args["mode"] = "maximum"
    checked, output = play(tmp_path, args, check=True, diff=True)
    assert checked["changed"] is True and checked["guests"]["new1"]["status"] == "created"
    assert not (out / "new1.xml").exists()
    assert "<cpu mode='maximum'/>" not in (out / "web1.xml").read_text() and "host-passthrough" in (
        out / "web1.xml").read_text()
    assert "+  <cpu mode='maximum'/>" in output and "-  <cpu mode='host-passthrough'/>" in output


def test_invalid_request_fails_with_every_message_and_writes_nothing(tmp_path):
    out = tmp_path / "out"
    guests = [{"name": "web1", "memory": 2048, "vcpus": 2, "features": [{"name": "feat_RAS", "value": "1.1"}]},
              {"name": "bad/name", "memory": 1, "vcpus": 1},
              {"name": "db1", "memory": 1024, "vcpus": 2, "features": [{"name": "hw_prop_WRPs", "value": "4"}]}]
    result, _unused = play(tmp_path, {"output_dir": str(out), "features": FEATURES, "guests": guests,
                                      "delivery": "qemu-commandline"}, fact="neoverse-n1.json")
    assert result["failed"] is True and not out.exists()
    assert "nothing was written; 3 problems in the guest CPU request of 3 guests:" in result["msg"]
    assert "feat_RAS=1.1 is not supported" in result["msg"] and "hw_prop_WRPs=4 is not supported" in result["msg"]
    assert "'bad/name' is not a plain token" in result["msg"]
    rules = sorted((str(e["guest"]), e["rule"]) for e in result["errors"])
    assert rules == [("None", "bad-guest-name"), ("db1", "value-not-supported"), ("web1", "value-not-supported")]
    assert "Traceback" not in result["msg"]


def test_unpatched_libvirt_refuses_feature_values_and_libvirt_check_false_writes(tmp_path):
    out = tmp_path / "out"
    args = {"output_dir": str(out), "features": FEATURES + [{"name": "sve256", "value": "off"}], "guests": GUESTS}
    refused, _unused = play(tmp_path, args)
    assert refused["failed"] is True and not out.exists()
    assert {"libvirt-drops-value", "libvirt-unknown-feature"} == {e["rule"] for e in refused["errors"]}
    assert "sve128=on, the opposite" in refused["msg"]
    args["libvirt_check"] = False
    written, output = play(tmp_path, args, gather_libvirt=False)
    assert written["changed"] is True and written["libvirt_check"].startswith("skipped")
    assert any("libvirt_check is false" in note for note in written["notes"])
    assert "libvirt_check is false" in output   # shown as a warning
    assert "<feature policy='require' name='sve256' value='off'/>" in (out / "web1.xml").read_text()


def test_a_document_failing_the_schema_is_never_written(tmp_path):
    template = tmp_path / "bad.xml.j2"
    template.write_text("<domain type='kvm'><name>{{ name }}</name><no-such-element/></domain>\n")
    out = tmp_path / "out"
    result, _unused = play(tmp_path, {"output_dir": str(out), "features": FEATURES, "guests": GUESTS,
                                      "template": str(template), "libvirt_check": False}, gather_libvirt=False)
    assert result["failed"] is True and not out.exists()
    assert {e["rule"] for e in result["errors"]} == {"schema"}


def test_policy_file_and_missing_schema(tmp_path):
    policy = tmp_path / "policy.yml"
    policy.write_text("features:\n  - {name: feat_RAS, valeu: '1.0'}\n")
    result, _unused = play(tmp_path, {"output_dir": str(tmp_path / "out"), "guests": GUESTS, "policy_file": str(policy),
                                      "libvirt_check": False}, gather_libvirt=False)
    assert result["failed"] is True and "%s: feat_RAS has unknown key(s) valeu" % policy in result["msg"]
    # a missing one is named with every place searched, and without Ansible's hint about remote_src (no such option)
    result, _unused = play(tmp_path, {"output_dir": str(tmp_path / "out"), "guests": GUESTS, "policy_file": "nope.yml",
                                      "libvirt_check": False}, gather_libvirt=False)
    assert result["failed"] is True and "remote_src" not in result["msg"], result["msg"]
    assert result["msg"].startswith("cannot find the policy file nope.yml on the controller; searched "), result["msg"]
    assert "%s/files/nope.yml, %s/nope.yml" % (tmp_path, tmp_path) in result["msg"], result["msg"]
    result, _unused = play(tmp_path, {"output_dir": str(tmp_path / "out"), "guests": GUESTS, "features": FEATURES,
                                      "schema_dir": str(tmp_path), "libvirt_check": False}, gather_libvirt=False)
    assert result["failed"] is True and "domain.rng is missing" in result["msg"]


def test_unsafe_output_dir_or_guest_file_fails_naming_the_host(tmp_path):
    """A world-writable output_dir, and (in check and diff mode) a symlink at a guest's file: the task fails with the
    host and the path, nothing is written, and the link's target is neither read into the diff nor touched."""
    out = tmp_path / "out"
    out.mkdir()
    os.chmod(out, 0o1777)
    args = {"output_dir": str(out), "features": FEATURES, "guests": GUESTS, "delivery": "qemu-commandline"}
    result, _unused = play(tmp_path, args)
    assert result["failed"] is True and result["guests"] == {}, result
    assert result["msg"] == ("localhost: cannot write the domain XML in %s: directory %s is world-writable; "
                             "refusing to use it" % (out, out)), result["msg"]
    assert os.listdir(out) == []

    os.chmod(out, 0o755)
    secret = tmp_path / "secret.xml"
    secret.write_text("<domain>not a guest of ours</domain>\n")
    os.symlink(str(secret), str(out / "db1.xml"))
    result, output = play(tmp_path, args, check=True, diff=True)
    assert result["failed"] is True and "diff" not in result, result
    assert result["msg"] == ("localhost: cannot write the domain XML in %s: 'db1' cannot name a file in %s: %s is a "
                             "symlink that leads out of the directory" % (out, out, out / "db1.xml")), result["msg"]
    assert "not a guest of ours" not in output
    assert sorted(os.listdir(out)) == ["db1.xml"] and os.readlink(str(out / "db1.xml")) == str(secret)
    assert secret.read_text() == "<domain>not a guest of ours</domain>\n"


def test_a_libvirt_fact_that_no_longer_holds_writes_nothing(tmp_path):
    """The fact said libvirt takes <feature value> (a patched libvirt, gathered hours ago); the host's libvirt now
    does not. The controller's checks pass against the fact; the writer reads the schema again and refuses."""
    from ansible_collections.armvirt.cpu.plugins.module_utils._libvirt import caps
    names = caps.cpu_map_features()[0]
    stale = dict(caps.schema_info(), feature_value_supported=True, cpu_map_dir=caps.DEFAULT_CPU_MAP_DIR,
                 cpu_map_features=names, version="11.9.0")
    out = tmp_path / "out"
    args = {"output_dir": str(out), "features": [{"name": "sve256", "value": "off"}], "guests": GUESTS[:1],
            "libvirt": stale}
    refused, _unused = play(tmp_path, args, gather_libvirt=False)
    assert refused["failed"] is True and not out.exists(), refused
    assert refused["msg"] == (
        "localhost: libvirt changed since the libvirt_cpu fact the XML was rendered with was gathered: the schema in "
        "%s no longer admits a value attribute on a guest <feature>. Gather it again (armvirt.cpu.gather or "
        "armvirt.cpu.libvirt_facts); nothing was written." % caps.DEFAULT_SCHEMA_DIR)
