"""Reads an OpenMetrics exposition on stdin with prometheus_client's parser (the Prometheus
project's own Python client, from PyPI), which refuses anything malformed: a missing `# EOF`, a
bad label, a sample outside its family, a type it does not know. Prints every sample as JSON:
[{"family", "type", "name", "labels", "value"}]. Exit 1, with the reason, on a malformed text.
"""

import json
import sys

from prometheus_client.openmetrics.parser import text_string_to_metric_families


def main() -> int:
    samples = []
    try:
        for family in text_string_to_metric_families(sys.stdin.read()):
            for sample in family.samples:
                samples.append(
                    {
                        "family": family.name,
                        "type": family.type,
                        "name": sample.name,
                        "labels": sample.labels,
                        "value": sample.value,
                    }
                )
    except ValueError as e:
        print(f"malformed exposition: {e}", file=sys.stderr)
        return 1
    json.dump(samples, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
