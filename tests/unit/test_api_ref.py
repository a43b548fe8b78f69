"""The API reference (api-ref/source) stays true to the server: it
documents every route the server serves under both versions and nothing
else, its JSON examples are JSON, and every parameter it names is
defined."""

import glob
import json
import os
import re
import textwrap

import yaml

from freezer_api.api import resources
from freezer_api.api import routes
from freezer_api.domain import kinds

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
SOURCE = os.path.join(ROOT, "api-ref", "source")
METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")
PLACES = ("header", "path", "query", "body")


def _documents():
    docs = {}
    for path in sorted(glob.glob(os.path.join(SOURCE, "*.rst"))):
        with open(path, encoding="utf-8") as rst:
            docs[os.path.basename(path)] = rst.read()
    return docs


def _served():
    """(method, path) of every route, with the documented parameter
    names ({job_id}, not the route's {doc_id})."""
    served = {("GET", "/"), ("GET", "/healthcheck"), ("GET", "/v1"),
              ("GET", "/v2")}
    for path, cls, kind in routes.ROUTES:
        path = path.replace("{doc_id}", "{%s}" % kinds.ID_FIELDS[kind])
        for method in METHODS:
            if hasattr(cls, "on_" + method.lower()):
                for prefix in routes.PREFIXES.values():
                    served.add((method, prefix + path))
    return served


def test_every_route_is_documented_and_nothing_else():
    documented = set()
    for text in _documents().values():
        for method, path in re.findall(
                r"^\.\. rest_method:: +(\S+) +(\S+)$", text, re.M):
            documented.add((method, path))
    assert documented == _served()
    assert issubclass(resources.EditableItem, resources.Item)


def _code_blocks(text):
    for match in re.finditer(r"^\.\. code-block:: json\n\n((?:   .*\n|\n)+)",
                             text, re.M):
        yield textwrap.dedent(match.group(1))


def test_json_examples_are_json():
    count = 0
    for name, text in _documents().items():
        for block in _code_blocks(text):
            try:
                json.loads(block)
            except ValueError as exc:
                raise AssertionError("%s: %s\n%s" % (name, exc, block))
            count += 1
    assert count > 40


def test_parameters_are_defined_and_ordered():
    with open(os.path.join(SOURCE, "parameters.yaml"),
              encoding="utf-8") as params_file:
        params = yaml.safe_load(params_file)
    places = []
    for name, spec in params.items():
        assert set(spec) == {"description", "in", "required", "type"}, name
        assert spec["in"] in PLACES, name
        places.append(PLACES.index(spec["in"]))
    assert places == sorted(places), "grouped: header, path, query, body"
    used = set()
    for name, text in _documents().items():
        for block in re.findall(
                r"^\.\. rest_parameters:: parameters.yaml\n\n((?:   - .*\n)+)",
                text, re.M):
            for line in block.splitlines():
                key = line.split(":", 1)[1].strip()
                assert key in params, "%s: %s is not defined" % (name, key)
                used.add(key)
    assert set(params) - used == set(), "defined but never used"


def test_index_includes_every_page():
    index = _documents()["index.rst"]
    included = set(re.findall(r"^\.\. include:: (\S+)$", index, re.M))
    assert included == set(_documents()) - {"index.rst"}
