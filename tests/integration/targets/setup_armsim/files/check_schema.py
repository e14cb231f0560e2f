"""Checks JSON documents against a JSON Schema of the collection (docs/schemas): ``python check_schema.py SCHEMA``
with one document on stdin, or ``--each`` with a JSON list of documents. Prints "valid", or exits 1 with which
document breaks the schema, where and how."""

import json
import sys

import jsonschema


def main():
    with open(sys.argv[1], encoding="utf-8") as handle:
        schema = json.load(handle)
    documents = json.load(sys.stdin)
    if "--each" not in sys.argv[2:]:
        documents = [documents]
    for index, document in enumerate(documents):
        try:
            jsonschema.validate(document, schema)
        except jsonschema.ValidationError as exc:
            sys.exit("document %d is invalid at /%s: %s"
                     % (index, "/".join(str(part) for part in exc.absolute_path), exc.message))
    print("valid")


if __name__ == "__main__":
    main()
