# -*- coding: utf-8 -*-
# Copyright: armvirt.cpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Guest CPU policy files: YAML or JSON with ``mode`` and ``features``, checked against their JSON Schema.

Why a schema in front of validate.py: a policy file is written by hand, and a typo in its structure (``polcy:``,
``features:`` as a mapping) should be reported with its place in the document (``features[2].polcy``) and the file,
all at once, before any host is asked about the features. Whether a host accepts them stays validate.py's job.

The schema has one source, ``docs/schemas/cpu_policy.schema.json`` in the collection (shipped in the build), which
the role and the action both read. jsonschema is needed on the controller; without it the error says so.
"""

from __future__ import annotations

import json
import os

import yaml

try:
    import jsonschema
except ImportError:  # pragma: no cover - exercised only where jsonschema is missing
    jsonschema = None

SCHEMA_PATH = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                           "docs", "schemas", "cpu_policy.schema.json")

_YAML_HINT = " (YAML reads unquoted on/off/yes/no/true/false as booleans and numbers as numbers: quote the value)"


class PolicyError(Exception):
    """The policy file cannot be used; ``messages`` lists every problem, each naming the file and the place."""

    def __init__(self, path, messages):
        self.path = path
        self.messages = list(messages)
        super(PolicyError, self).__init__("\n".join(self.messages))


def load_schema():
    with open(SCHEMA_PATH, encoding="utf-8") as handle:
        return json.load(handle)


def document_path(parts):
    """``["features", 2, "policy"]`` as ``features[2].policy``; the document root as ``(document root)``."""
    text = ""
    for part in parts:
        text += "[%d]" % part if isinstance(part, int) else ("." if text else "") + str(part)
    return text or "(document root)"


def check(document, path="policy"):
    """Every schema problem of a loaded policy ``document`` as messages (empty when it conforms)."""
    if jsonschema is None:
        raise PolicyError(path, ["%s: jsonschema is required on the controller to check policy files; install it "
                                 "(pip install jsonschema, see requirements/controller.txt)" % path])
    validator = jsonschema.Draft202012Validator(load_schema())
    messages = []
    for error in sorted(validator.iter_errors(document), key=lambda e: (list(map(str, e.absolute_path)), e.message)):
        where = list(error.absolute_path)
        hint = _YAML_HINT if where and where[-1] == "value" and error.validator == "type" else ""
        messages.append("%s: at %s: %s%s" % (path, document_path(where), error.message, hint))
    return messages


def load(path):
    """Read and check a policy file; returns ``(mode or None, features)``. Raises PolicyError."""
    try:
        with open(path, encoding="utf-8") as handle:
            document = yaml.safe_load(handle)
    except OSError as exc:
        raise PolicyError(path, ["%s: cannot read the policy file: %s" % (path, exc.strerror or exc)])
    except yaml.YAMLError as exc:
        raise PolicyError(path, ["%s: not valid YAML/JSON: %s" % (path, " ".join(str(exc).split()))])
    messages = check(document, path)
    if messages:
        raise PolicyError(path, messages)
    return document.get("mode"), document["features"]
