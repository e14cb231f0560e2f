"""Checks JSON documents against a JSON Schema of the collection (docs/schemas): ``python check_schema.py SCHEMA``
with one document on stdin, or ``--each`` with a JSON list of documents. The other schemas of SCHEMA's directory
resolve its $refs (nothing is fetched). Prints "valid", or exits 1 with which document breaks the schema, where
and how."""

import json
import pathlib
import sys

import jsonschema
import referencing


def validator(path):
    schemas = [json.loads(other.read_text(encoding="utf-8")) for other in path.parent.glob("*.json")]
    registry = referencing.Registry().with_resources(
        (schema["$id"], referencing.Resource.from_contents(schema)) for schema in schemas if "$id" in schema)
    schema = json.loads(path.read_text(encoding="utf-8"))
    return jsonschema.validators.validator_for(schema)(schema, registry=registry)


def main():
    check = validator(pathlib.Path(sys.argv[1]))
    documents = json.load(sys.stdin)
    if "--each" not in sys.argv[2:]:
        documents = [documents]
    for index, document in enumerate(documents):
        error = jsonschema.exceptions.best_match(check.iter_errors(document))
        if error is not None:
            sys.exit("document %d is invalid at /%s: %s"
                     % (index, "/".join(str(part) for part in error.absolute_path), error.message))
    print("valid")


if __name__ == "__main__":
    main()
