"""Parses Prometheus text format from stdin with the prometheus_client
package (an independent parser) and prints one JSON object:
{"types": {family: type}, "samples": [[name, labels, value], ...]}."""
import json
import sys

from prometheus_client.parser import text_string_to_metric_families

types = {}
samples = []
for family in text_string_to_metric_families(sys.stdin.read()):
    types[family.name] = family.type
    for s in family.samples:
        samples.append([s.name, s.labels, s.value])
print(json.dumps({"types": types, "samples": samples}))
