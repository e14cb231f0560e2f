"""What the fleet tests share: the facts they start from, the schemas the results must fit, canonical field names."""

import copy
import json
import pathlib

import jsonschema
import referencing

from ansible_collections.armvirt.cpu.plugins.module_utils._host import vocabulary
from ansible_collections.armvirt.cpu.plugins.module_utils._guest.validate import check_features

ROOT = pathlib.Path(__file__).resolve().parents[5]
FACTS = ROOT / "tests" / "fixtures" / "facts"
SCHEMAS = ROOT / "docs" / "schemas"
SMALL = json.loads((ROOT / "tests" / "fixtures" / "fleet" / "small-fleet.json").read_text())


def load_fact(name):
    return json.loads((FACTS / (name + ".json")).read_text())


N1, V1, QEMU72 = load_fact("neoverse-n1"), load_fact("neoverse-v1"), load_fact("qemu-7.2-released")
UNSUPPORTED, FIXTURE_BASELINE = load_fact("qemu-7.2-kvm-unsupported"), load_fact("fleet-baseline")


def validator(name):
    resources = [(schema["$id"], referencing.Resource.from_contents(schema))
                 for schema in (json.loads(path.read_text()) for path in SCHEMAS.glob("*.json"))]
    schema = json.loads((SCHEMAS / name).read_text())
    return jsonschema.Draft202012Validator(schema, registry=referencing.Registry().with_resources(resources))


BASELINE_SCHEMA, CLASSES_SCHEMA = validator("fleet_baseline.schema.json"), validator("fleet_classes.schema.json")


def small(*hosts):
    return {host: copy.deepcopy(SMALL[host]) for host in hosts}


def values(result, name):
    return result["properties"][name]["supported_values"]


WRPS, BRPS, API = "SYSREG_ID_AA64DFR0_EL1_WRPs", "SYSREG_ID_AA64DFR0_EL1_BRPs", "SYSREG_ID_AA64ISAR1_EL1_API"
RAS, RAS_FRAC, SVE = "SYSREG_ID_AA64PFR0_EL1_RAS", "SYSREG_ID_AA64PFR1_EL1_RAS_frac", "SYSREG_ID_AA64PFR0_EL1_SVE"
CSV2, CSV2_FRAC, PMUVER = "SYSREG_ID_AA64PFR0_EL1_CSV2", "SYSREG_ID_AA64PFR1_EL1_CSV2_frac", \
    "SYSREG_ID_AA64DFR0_EL1_PMUVer"


def on_host(features, fact, host):
    """Every problem of a request in canonical names on one host: its translation into the host's names, then
    validation on the host's own fact."""
    own, problems = vocabulary.to_host(features, fact, host)
    return problems + [error.message for error in check_features(own, fact, host)[1]]


def one_prop(prop_type, supported_values, **more):
    return {"supported": True, "dialect": "query-arm-cpu-props-info", "accel": "kvm", "emulator": None,
            "qemu_version": "9.1.50", "source": "probe", "reason": None,
            "properties": dict({"x": {"type": prop_type, "supported_values": supported_values}}, **more)}
