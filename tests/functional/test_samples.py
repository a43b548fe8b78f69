"""The committed configuration sample, policy sample and configuration
reference are what oslo-config-generator and oslopolicy-sample-generator
make of the code today."""

import difflib
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
FILES = ("etc/freezer/freezer-api.conf.sample",
         "etc/freezer/policy.yaml.sample",
         "doc/configuration.rst")


def test_samples_and_reference_are_up_to_date(tmp_path):
    subprocess.run([sys.executable, os.path.join(ROOT, "tools", "samples.py"),
                    "--output-dir", str(tmp_path)], check=True,
                   capture_output=True, timeout=300)
    stale = []
    for name in FILES:
        with open(os.path.join(ROOT, name), encoding="utf-8") as committed:
            old = committed.read().splitlines(keepends=True)
        with open(tmp_path / name, encoding="utf-8") as generated:
            new = generated.read().splitlines(keepends=True)
        if old != new:
            stale.append("".join(list(difflib.unified_diff(
                old, new, name, name + " (generated)"))[:40]))
    assert not stale, (
        "out of date; run 'make samples' and commit the result:\n\n" +
        "\n".join(stale))
