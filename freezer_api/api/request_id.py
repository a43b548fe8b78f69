"""Every request gets an id: what oslo.middleware's ``RequestId`` does, as
a plain WSGI wrapper (oslo.middleware's builds a webob request and
response around every call, which cost a tenth of a poll).

The id (``req-<uuid>``, oslo.context's ``generate_request_id``) is put in
the environ as ``openstack.request_id``, where oslo.context and oslo.log
find it, and in the answer's ``X-OpenStack-Request-ID`` header unless the
application set one. A well-formed inbound ``X-OpenStack-Request-ID`` is
kept as ``openstack.global_request_id``."""

import re

from oslo_context import context as oslo_context
from oslo_middleware import request_id as oslo_request_id

HEADER = oslo_request_id.HTTP_RESP_HEADER_REQUEST_ID
_INBOUND = "HTTP_" + oslo_request_id.INBOUND_HEADER.upper().replace("-", "_")
_GLOBAL_ID = re.compile(oslo_request_id.ID_FORMAT)


def wrap(application):
    def with_request_id(environ, start_response):
        inbound = environ.get(_INBOUND, "")
        if _GLOBAL_ID.match(inbound):
            environ[oslo_request_id.GLOBAL_REQ_ID] = inbound
        req_id = oslo_context.generate_request_id()
        environ[oslo_request_id.ENV_REQUEST_ID] = req_id

        def start(status, headers, exc_info=None):
            if not any(name.lower() == HEADER for name, _value in headers):
                headers = list(headers) + [(HEADER, req_id)]
            return start_response(status, headers, exc_info)
        return application(environ, start)
    return with_request_id
