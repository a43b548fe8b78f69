"""The layers, enforced: HTTP lives in freezer_api.api, the rules in
freezer_api.domain and freezer_api.services, storage behind
freezer_api.storage.base. A module that imports across a boundary it must
not cross fails here, naming the import."""

import ast
import pathlib

import pytest

PACKAGE = pathlib.Path(__file__).resolve().parents[2] / "freezer_api"
HTTP_AND_STORES = ("falcon", "webob", "sqlalchemy", "alembic", "opensearchpy",
                   "psycopg", "pymysql", "keystonemiddleware")
# What each layer may not import (a module or any of its submodules).
FORBIDDEN = {
    "domain": HTTP_AND_STORES + ("oslo_config", "oslo_policy",
                                 "freezer_api.api", "freezer_api.services",
                                 "freezer_api.storage"),
    "services": HTTP_AND_STORES + ("freezer_api.api",
                                   "freezer_api.storage.sqlalchemy",
                                   "freezer_api.storage.elasticsearch"),
    "storage": ("falcon", "webob", "keystonemiddleware", "freezer_api.api",
                "freezer_api.services"),
}


def _imports(path):
    tree = ast.parse(path.read_text(), str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom) and node.module and \
                not node.level:
            yield node.lineno, node.module
            for alias in node.names:
                yield node.lineno, "%s.%s" % (node.module, alias.name)


def _modules(layer):
    return sorted((PACKAGE / layer).rglob("*.py"))


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_no_layer_imports_what_it_must_not(layer):
    assert _modules(layer), layer
    crossings = []
    for path in _modules(layer):
        for line, name in _imports(path):
            for banned in FORBIDDEN[layer]:
                if name == banned or name.startswith(banned + "."):
                    crossings.append("%s:%d imports %s" % (
                        path.relative_to(PACKAGE.parent), line, name))
    assert not crossings, "\n".join(crossings)


def test_the_check_sees_an_import():
    """The walker finds both import forms (else the test above could never
    fail)."""
    sample = PACKAGE.parent / "tests" / "unit" / "test_layering.py"
    names = {name for _line, name in _imports(sample)}
    assert {"ast", "pathlib", "pytest"} <= names
