"""The storage interface says what a driver must provide: everything the
service, freezer-manage, freezer-status and the test suites call on a
driver is a method of ``StorageDriver`` (abstract, or with a default),
and every driver provides the abstract ones."""

import ast
import pathlib

import pytest

from freezer_api.storage import base
from freezer_api.storage.elasticsearch import driver as es_driver
from freezer_api.storage.sqlalchemy import driver as sql_driver

PACKAGE = pathlib.Path(__file__).resolve().parents[2] / "freezer_api"
DRIVERS = (sql_driver.SQLAlchemyDriver, es_driver.ElasticsearchDriver)


def test_the_schema_and_cleaning_methods_are_abstract():
    assert {"get", "search", "fingerprint", "apply", "healthcheck",
            "upgrade", "schema_version", "schema_status",
            "wipe"} == set(base.StorageDriver.__abstractmethods__)


@pytest.mark.parametrize("driver", DRIVERS, ids=lambda d: d.name)
def test_every_driver_provides_the_interface(driver):
    assert issubclass(driver, base.StorageDriver)
    assert not driver.__abstractmethods__


@pytest.mark.parametrize("missing", sorted(
    base.StorageDriver.__abstractmethods__))
def test_a_driver_missing_a_method_cannot_be_made(missing):
    methods = {name: lambda self, *args: None
               for name in base.StorageDriver.__abstractmethods__
               if name != missing}
    partial = type("Partial", (base.StorageDriver,), methods)
    with pytest.raises(TypeError, match=missing):
        partial()
    assert not type("Whole", (partial,), {missing: lambda self: None}
                    ).__abstractmethods__


def test_no_caller_probes_a_driver_for_a_method():
    # getattr(driver, "...") / hasattr(driver, "...") would mean a method
    # outside the interface.
    probes = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Call) and \
                    isinstance(node.func, ast.Name) and \
                    node.func.id in ("getattr", "hasattr") and \
                    isinstance(node.args[0], ast.Name) and \
                    node.args[0].id in ("driver", "storage"):
                probes.append("%s:%d" % (path.relative_to(PACKAGE.parent),
                                         node.lineno))
    assert not probes, probes
