"""HTTP: Falcon resources, shared by /v1 and /v2/{project_id}."""
