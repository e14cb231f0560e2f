"""names: the collection's vocabulary is written once; every schema, doc and the simulator that lists it agrees."""

import ast
import json
import pathlib
import re

import pytest
import yaml

from ansible_collections.armvirt.cpu.plugins.module_utils._common import names
from ansible_collections.armvirt.cpu.plugins.module_utils._guest import validate
from ansible_collections.armvirt.cpu.plugins.module_utils._host import rules

ROOT = pathlib.Path(__file__).resolve().parents[5]
SCHEMAS = ROOT / "docs" / "schemas"
# each list of names, keyed by a value only it holds, for the documented choices below
VOCABULARIES = {"accelerators": names.ACCELS, "modes": names.MODES, "deliveries": names.DELIVERIES}


def schema_enum(name, *keys):
    node = json.loads((SCHEMAS / name).read_text())
    for key in keys:
        node = node[key]
    return node["enum"]


@pytest.mark.parametrize("schema", ["arm_cpu_props.schema.json", "fleet_baseline.schema.json",
                                    "fleet_classes.schema.json"])
def test_the_schemas_list_the_dialects_in_the_probe_order(schema):
    keys = ("properties", "classes", "additionalProperties") if schema == "fleet_classes.schema.json" else ()
    assert schema_enum(schema, *keys, "properties", "dialect") == list(names.DIALECTS) + [None]


def test_the_schemas_list_the_accelerators():
    assert schema_enum("arm_cpu_props.schema.json", "properties", "accel") == list(names.ACCELS)
    assert schema_enum("fleet_baseline.schema.json", "properties", "accel") == list(names.ACCELS) + [None]


def test_the_policy_schema_lists_the_modes_and_deliveries():
    assert schema_enum("cpu_policy.schema.json", "properties", "mode") == list(names.MODES)
    assert schema_enum("cpu_policy.schema.json", "properties", "delivery") == list(names.DELIVERIES)


def test_the_simulator_speaks_the_same_dialects():
    """The simulator imports nothing of the collection: its list is read from its source."""
    tree = ast.parse((ROOT / "tools" / "armsim" / "profiles.py").read_text())
    constants = {target.id: node.value for node in tree.body if isinstance(node, ast.Assign)
                 for target in node.targets if isinstance(target, ast.Name)}
    constants.update({target.id: value for node in tree.body if isinstance(node, ast.Assign)
                      for tuple_target in node.targets if isinstance(tuple_target, ast.Tuple)
                      for target, value in zip(tuple_target.elts, node.value.elts)})
    dialects = tuple(ast.literal_eval(constants[element.id]) for element in constants["DIALECTS"].elts)
    assert dialects == names.DIALECTS


def test_the_dialect_table_lists_every_dialect_in_order():
    text = (ROOT / "docs" / "dialects.md").read_text()
    table = text[text.index("| dialect (`arm_cpu_props.dialect`) |"):].split("\n\n")[0].splitlines()[2:]
    assert tuple(row.split("|")[1].strip().strip("`") for row in table) == names.DIALECTS


def test_the_rule_ids_are_listed_alike_everywhere():
    assert len(set(validate.ALL_RULE_IDS)) == len(validate.ALL_RULE_IDS)
    assert validate.ALL_RULE_IDS[-len(rules.RULES):] == tuple(rule.id for rule in rules.RULES)
    text = (ROOT / "docs" / "guest-validation.md").read_text()
    tables = [table.splitlines()[2:] for table in text.split("\n\n") if table.startswith("| rule id |")]
    documented = [row.split("|")[1].strip().strip("`") for table in tables for row in table]
    assert sorted(documented) == sorted(validate.ALL_RULE_IDS)
    source = (ROOT / "plugins" / "filter" / "cpu_feature_check.py").read_text()
    returned = yaml.safe_load(source.split('RETURN = r"""')[1].split('"""')[0])
    description = returned["_value"]["contains"]["rule"]["description"]
    # "...: id, id, id; of ...: id, id." -- the lists after each colon
    listed = [rule for group in re.findall(r": ([^:;]+?)(?:;|\.$)", description) for rule in group.split(", ")]
    assert sorted(listed) == sorted(validate.ALL_RULE_IDS)


def documented_options():
    """``(where, option, spec)`` of every option the modules, doc fragments and roles document."""
    def walk(where, options):
        for option, spec in (options or {}).items():
            yield where, option, spec
            yield from walk(where, spec.get("suboptions") or spec.get("options"))

    for path in sorted((ROOT / "plugins" / "modules").glob("*.py")) + \
            sorted((ROOT / "plugins" / "doc_fragments").glob("*.py")):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            # a module's DOCUMENTATION, a fragment's DOCUMENTATION or HOST_PATHS (their options; RETURN has none)
            if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant) and any(
                    getattr(target, "id", None) in ("DOCUMENTATION", "HOST_PATHS") for target in node.targets):
                yield from walk(path.name, yaml.safe_load(node.value.value).get("options"))
    for path in sorted(ROOT.glob("roles/*/meta/argument_specs.yml")):
        for entry in yaml.safe_load(path.read_text())["argument_specs"].values():
            yield from walk(str(path.relative_to(ROOT)), entry.get("options"))


def test_documented_choices_list_every_name():
    """An option whose choices hold an accelerator, a mode or a delivery offers all of them and nothing else."""
    checked = set()
    for where, option, spec in documented_options():
        choices = spec.get("choices") if isinstance(spec, dict) else None
        for what, vocabulary in VOCABULARIES.items():
            if choices and set(choices) & set(vocabulary):
                assert sorted(choices) == sorted(vocabulary), (where, option, what)
                checked.add(what)
    assert checked == set(VOCABULARIES)


def test_the_derived_names_agree():
    assert names.DOMAIN_ACCELS == {"kvm": names.KVM, "qemu": names.TCG}
    assert set(names.MODE_FOR_ACCEL) == set(names.ACCELS) == set(names.MODEL_FOR_ACCEL)
    assert set(names.CPU_MODELS) | {names.CUSTOM} == set(names.MODES)
    assert names.DEFAULT_MODE in names.CPU_MODELS
