"""The ceiling: bare Falcon on gunicorn answering the benchmark's requests
with canned documents, no storage, no middleware, no policy.

It parses what the service parses (query string, JSON bodies) and answers
the same shapes (a poll page of 10 then 6 jobs, a job with its ETag, the
session action and PATCH answers), with Falcon's default JSON handler, so
the difference to the service is the service's own work.

    gunicorn -w 2 -b 127.0.0.1:PORT benchmarks.ceiling:app
"""

import falcon

from benchmarks import workload

PAGES = {0: workload.canned_page(workload.PAGE),
         workload.PAGE: workload.canned_page(
             workload.ACTIVE_PER_CLIENT - workload.PAGE)}
JOB = workload.canned_page(1)[0]


def _media(req):
    if req.content_length:
        return req.get_media()
    return None


class Jobs:
    def on_get(self, req, resp, project_id):
        _media(req)
        req.get_param_as_int("limit")
        offset = req.get_param_as_int("offset") or 0
        req.get_param("client_id")
        etag = '"canned-%d"' % offset
        if req.get_header("If-None-Match") == etag:
            resp.status = falcon.HTTP_304
            resp.etag = etag
            return
        resp.etag = etag
        resp.media = {"jobs": PAGES.get(offset, [])}


class Job:
    def on_get(self, req, resp, project_id, job_id):
        resp.etag = '"1"'
        resp.media = dict(JOB, job_id=job_id, _version=1)

    def on_patch(self, req, resp, project_id, job_id):
        _media(req)
        resp.etag = '"2"'
        resp.media = {"job_id": job_id, "version": 2}


class SessionAction:
    def on_post(self, req, resp, project_id, session_id):
        _media(req)
        resp.status = falcon.HTTP_202
        resp.media = {"result": "success", "session_tag": 1}


class Health:
    def on_get(self, req, resp):
        resp.media = {"status": "OK"}


def create_app():
    application = falcon.App()
    application.req_options.strip_url_path_trailing_slash = True
    application.add_route("/healthcheck", Health())
    application.add_route("/v2/{project_id}/jobs", Jobs())
    application.add_route("/v2/{project_id}/jobs/{job_id}", Job())
    application.add_route("/v2/{project_id}/sessions/{session_id}/action",
                          SessionAction())
    return application


app = create_app()
