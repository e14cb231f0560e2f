"""Each contract of the collection is written once: the tree is read for a second definition of any of them.

A contract written twice drifts (fleet_placement refused the description gather's own policy files carry), so
this test reads the plugins, roles and playbooks as text and syntax trees and names every second place it finds.
"""

import ast
import pathlib
import re

import yaml

from ansible_collections.armvirt.cpu.plugins.module_utils._libvirt import caps

ROOT = pathlib.Path(__file__).resolve().parents[3]
PLUGINS = sorted((ROOT / "plugins").rglob("*.py"))
DOCS = {"DOCUMENTATION", "EXAMPLES", "RETURN"}   # held to the code by validate-modules, free to repeat it


def rel(path):
    return path.relative_to(ROOT).as_posix()


def parsed(path):
    return ast.parse(path.read_text(encoding="utf-8"), str(path))


def code_strings(tree):
    """The string constants of a module that are code: not docstrings, not the DOCUMENTATION/EXAMPLES/RETURN."""
    prose = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id in DOCS for t in node.targets):
            prose.add(id(node.value))
        if isinstance(node, (ast.Module, ast.FunctionDef, ast.ClassDef)) and ast.get_docstring(node) is not None:
            prose.add(id(node.body[0].value))
    return [node for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in prose]


def string_collections(tree):
    """``(line, {strings})`` of every tuple, list and set literal made of strings only."""
    for node in ast.walk(tree):
        if isinstance(node, (ast.Tuple, ast.List, ast.Set)) and node.elts and all(
                isinstance(elt, ast.Constant) and isinstance(elt.value, str) for elt in node.elts):
            yield node.lineno, {elt.value for elt in node.elts}


def enclosing_functions(tree):
    """node id -> name of the function it is in."""
    owner = {}
    for function in ast.walk(tree):
        if isinstance(function, ast.FunctionDef):
            for node in ast.walk(function):
                owner.setdefault(id(node), function.name)
    return owner


def places(words, allowed):
    """Where a string collection holding all of ``words`` is written, outside the ``allowed`` file."""
    found = []
    for path in PLUGINS:
        for line, strings in string_collections(parsed(path)):
            if words <= strings and rel(path) != allowed:
                found.append("%s:%d" % (rel(path), line))
    return found


def test_the_policy_document_keys_are_defined_once():
    assert places({"mode", "features"}, "plugins/module_utils/_guest/policy.py") == []
    assert all("POLICY_KEYS" not in path.read_text(encoding="utf-8") for path in PLUGINS)


def test_feature_keys_and_policies_are_defined_once():
    assert places({"name", "policy", "value"}, "plugins/module_utils/_guest/validate.py") == []
    assert places({"require", "force"}, "plugins/module_utils/_guest/validate.py") == []


def test_the_libvirt_schema_directory_is_one_constant():
    literal = caps.DEFAULT_SCHEMA_DIR
    found = ["%s:%d" % (rel(path), node.lineno) for path in PLUGINS for node in code_strings(parsed(path))
             if literal in node.value]
    assert found == ["plugins/module_utils/_common/names.py:%d" % next(
        node.lineno for node in code_strings(parsed(ROOT / "plugins/module_utils/_common/names.py"))
        if node.value == literal)]
    role = ROOT / "roles" / "guest_cpu"
    assert yaml.safe_load((role / "defaults" / "main.yml").read_text())["guest_cpu_schema_dir"] == literal
    spec = yaml.safe_load((role / "meta" / "argument_specs.yml").read_text())
    assert spec["argument_specs"]["main"]["options"]["guest_cpu_schema_dir"]["default"] == literal
    others = [rel(path) for path in sorted((ROOT / "roles").rglob("*.yml")) + sorted((ROOT / "playbooks").rglob("*.yml"))
              if literal in path.read_text(encoding="utf-8")]
    assert others == ["roles/guest_cpu/defaults/main.yml", "roles/guest_cpu/meta/argument_specs.yml"]


def test_only_delivery_cpu_element_writes_cpu():
    writers = []
    for path in PLUGINS:
        tree = parsed(path)
        owner = enclosing_functions(tree)
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", "")) in (
                    "Element", "SubElement") and any(isinstance(arg, ast.Constant) and arg.value in ("cpu", "feature")
                                                     for arg in node.args[:2]):
                writers.append("%s:%s" % (rel(path), owner.get(id(node))))
    assert sorted(set(writers)) == ["plugins/module_utils/_guest/delivery.py:cpu_element"]
    templates = sorted((ROOT / "roles").rglob("*.j2")) + sorted((ROOT / "playbooks").rglob("*.j2"))
    markup = {rel(path): re.sub(r"\{#.*?#\}", "", path.read_text(encoding="utf-8"), flags=re.S) for path in templates}
    assert markup and [name for name, text in markup.items() if re.search(r"<(cpu|feature)\b", text)] == []


def test_the_guest_name_rule_and_the_xml_payload_key_are_defined_once():
    for path in PLUGINS:
        tree = parsed(path)
        if rel(path) != "plugins/module_utils/_guest/domain_files.py":
            assert all(node.value != "_xml" for node in code_strings(tree)), rel(path)
            assert not any(isinstance(node, ast.FunctionDef) and node.name == "guest_name_problem"
                           for node in ast.walk(tree)), rel(path)


def test_plugins_import_no_module_or_action_file():
    found = []
    pattern = re.compile(r"ansible_collections\..*\.plugins\.(action|modules)\b")
    for path in PLUGINS:
        for node in ast.walk(parsed(path)):
            if isinstance(node, ast.ImportFrom) and pattern.match(node.module or ""):
                found.append("%s:%d %s" % (rel(path), node.lineno, node.module))
    assert found == []


def test_plugins_find_their_files_through_the_collection_not_file():
    found = {rel(path) for path in PLUGINS for node in ast.walk(parsed(path))
             if isinstance(node, ast.Name) and node.id == "__file__"}
    assert found == set()
