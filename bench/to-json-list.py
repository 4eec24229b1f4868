#!/usr/bin/env python3
"""Writes a directory of YAML manifests as one JSON `List`, as `kubectl get -o json` prints it
(4-space indent, items in file order). For the JSON-dump benchmarks in BENCHMARKS.md.

    bench/to-json-list.py /tmp/gc20 > /tmp/gc20.json      # needs PyYAML (pip install pyyaml)
"""
import json
import os
import sys

import yaml


def main() -> None:
    root = sys.argv[1]
    items = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(filenames):
            if name.endswith((".yaml", ".yml")):
                with open(os.path.join(dirpath, name)) as f:
                    items.extend(d for d in yaml.safe_load_all(f) if d)
    out = {"apiVersion": "v1", "items": items, "kind": "List", "metadata": {"resourceVersion": ""}}
    json.dump(out, sys.stdout, indent=4)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
