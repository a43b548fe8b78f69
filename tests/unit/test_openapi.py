"""api-ref/openapi.yaml is what freezer_api.api.openapi generates, it
describes exactly the routes the application serves, and its request
bodies are the schemas the service validates with."""

import os
import re

import falcon.inspect
import jsonschema
import schemathesis
import yaml

from freezer_api import app as app_module
from freezer_api import schemas
from freezer_api.api import openapi
from freezer_api.api import routes
from tests.conftest import make_conf

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
PUBLISHED = os.path.join(ROOT, "api-ref", "openapi.yaml")
_PARAM = re.compile(r"\{[^}]*\}")


def test_published_document_is_the_generated_one():
    with open(PUBLISHED, encoding="utf-8") as source:
        published = source.read()
    assert published == openapi.render(), (
        "api-ref/openapi.yaml is out of date: run 'make openapi'")


def test_document_is_valid_openapi_3_1():
    doc = yaml.safe_load(openapi.render())
    assert doc["openapi"].startswith("3.1.")
    schemathesis.openapi.from_dict(doc).validate()
    for name, schema in doc["components"]["schemas"].items():
        jsonschema.Draft202012Validator.check_schema(schema)


def _refs(node):
    if isinstance(node, dict):
        if "$ref" in node:
            yield node["$ref"]
        for value in node.values():
            yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


def test_every_reference_resolves():
    doc = openapi.build()
    for ref in set(_refs(doc)):
        assert ref.startswith("#/"), ref
        node = doc
        for part in ref[2:].split("/"):
            assert part in node, ref
            node = node[part]


def _served_routes():
    application = app_module.create_app(make_conf(
        **{"database.connection": "sqlite://"}))
    served = set()
    for route in falcon.inspect.inspect_routes(application.falcon_app):
        for method in route.methods:
            if not method.internal:
                served.add((_PARAM.sub("{}", route.path),
                            method.method.lower()))
    return served


def _documented_routes(doc):
    return {(_PARAM.sub("{}", path), method)
            for path, item in doc["paths"].items()
            for method in item if method in openapi.METHODS}


def test_every_served_route_is_documented_and_nothing_else():
    assert _served_routes() == _documented_routes(openapi.build())


def test_every_described_operation_is_a_responder():
    # (A responder without a description fails build(): ValueError.)
    served = {(base, method) for _path, cls, _kind in routes.ROUTES
              for method in routes.responders(cls) for base in cls.__mro__
              if (base, method) in openapi.OPERATIONS}
    assert served == set(openapi.OPERATIONS)


def test_request_bodies_are_the_validation_schemas():
    doc = openapi.build()
    components = doc["components"]["schemas"]
    used = set()
    for name, schema in schemas.SCHEMAS.items():
        # Same content (as JSON) as what the service validates with.
        assert components[name] == yaml.safe_load(yaml.safe_dump(schema))
    for item in doc["paths"].values():
        for method, operation in item.items():
            body = operation.get("requestBody") if isinstance(
                operation, dict) else None
            if body:
                ref = body["content"]["application/json"]["schema"]["$ref"]
                used.add(ref.rsplit("/", 1)[1])
    assert set(schemas.SCHEMAS) - {"job"} <= used


def test_every_operation_declares_its_errors():
    doc = openapi.build()
    for path, item in doc["paths"].items():
        for method, operation in item.items():
            if method not in openapi.METHODS:
                continue
            codes = set(operation["responses"])
            assert "406" in codes, (path, method)
            if path.startswith(("/v1/", "/v2/")):
                assert {"400", "401", "403", "503"} <= codes, (path, method)
            # (POST to an id creates or replaces: never 404.)
            if "{" in path.replace("{project_id}", "") and not (
                    method == "post" and path.endswith("_id}")):
                assert "404" in codes, (path, method)
            if operation.get("requestBody"):
                assert {"413", "415"} <= codes, (path, method)
            assert any(c.startswith(("2", "3")) for c in codes)
    error = doc["components"]["responses"]["ServiceUnavailable"]
    assert "Retry-After" in error["headers"]


def test_list_operations_take_paging_filters_and_a_get_body():
    doc = openapi.build()
    operation = doc["paths"]["/v2/{project_id}/jobs"]["get"]
    names = {p["name"] for p in operation["parameters"]}
    assert {"limit", "offset", "client_id", "session_id", "status",
            "time_after", "time_before", "all_projects"} <= names
    assert operation["requestBody"]["required"] is False
    clients = doc["paths"]["/v1/clients"]["get"]
    assert "time_after" not in {p["name"] for p in clients["parameters"]}


def test_command_writes_the_document(tmp_path):
    target = tmp_path / "openapi.yaml"
    assert openapi.main(["-o", str(target)]) == 0
    assert target.read_text(encoding="utf-8") == openapi.render()
