#!/usr/bin/env python3
"""Print the routes of docs/openapi.yaml as JSON: [[METHOD, path, [status, ...]], ...].

Sorted by path then method; statuses are integers, sorted. `--public` leaves out the operations
tagged `local-only`. Needs PyYAML (in .venv via scripts/setup-venv.sh):
    .venv/bin/python tests/openapi_routes.py [--public] [spec]
"""
import json
import pathlib
import sys

import yaml

METHODS = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}

args = [a for a in sys.argv[1:] if a != "--public"]
spec_path = args[0] if args else pathlib.Path(__file__).resolve().parent.parent / "docs" / "openapi.yaml"
with open(spec_path, encoding="utf-8") as f:
    spec = yaml.safe_load(f)

routes = []
for path, item in spec["paths"].items():
    for method, op in item.items():
        if method not in METHODS:
            continue
        if "--public" in sys.argv and "local-only" in op.get("tags", []):
            continue
        routes.append([method.upper(), path, sorted(int(s) for s in op["responses"])])
routes.sort(key=lambda r: (r[1], r[0]))
print(json.dumps(routes))
