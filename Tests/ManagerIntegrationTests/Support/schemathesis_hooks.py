"""Schemathesis hooks for the manager's contract test: sign every request as the Backend.AI client does.

Loaded with SCHEMATHESIS_HOOKS=schemathesis_hooks (this folder on PYTHONPATH). Reads:
  ST_ACCESS_KEY, ST_SECRET_KEY   the keypair to sign with
  ST_AGENT_SECRET                the bearer secret for /agent-rpc/sync
  ST_KNOWN_SESSIONS, ST_KNOWN_FOLDERS, ST_KNOWN_TASKS
                                 comma-separated names/ids that exist, so that some generated path parameters hit
                                 real objects instead of 404s
"""
import datetime
import hashlib
import hmac
import os
from urllib.parse import urlsplit

import requests
import schemathesis

# Imported here, once, before `--workers 2` starts its threads: the first request imports the transports, anyio's
# lazy importer compiles a module to an AST on import, and two threads doing that at once trip CPython 3.11's
# shared AST recursion counter ("SystemError: AST constructor recursion depth mismatch", a failed CI run).
import schemathesis.transport.asgi  # noqa: F401,E402
import schemathesis.transport.wsgi  # noqa: F401,E402

API_VERSION = "v7.20230615"
EMPTY_BODY_HASH = hashlib.sha256(b"").hexdigest()


class BackendAISignature(requests.auth.AuthBase):
    """Signs the prepared request, so the path and query are exactly what goes on the wire."""

    def __init__(self, access_key, secret_key):
        self.access_key = access_key
        self.secret_key = secret_key

    def __call__(self, request):
        now = datetime.datetime.now(datetime.timezone.utc)
        date = now.isoformat()
        host = urlsplit(request.url).netloc
        content_type = (request.headers.get("Content-Type") or "application/octet-stream").split(";")[0].strip().lower()
        text = "\n".join([
            request.method.upper(), request.path_url, date, "host:" + host, "content-type:" + content_type,
            "x-backendai-version:" + API_VERSION, EMPTY_BODY_HASH,
        ])
        key = hmac.new(self.secret_key.encode(), now.strftime("%Y%m%d").encode(), hashlib.sha256).digest()
        key = hmac.new(key, host.encode(), hashlib.sha256).digest()
        signature = hmac.new(key, text.encode(), hashlib.sha256).hexdigest()
        request.headers["Date"] = date
        request.headers["X-BackendAI-Version"] = API_VERSION
        request.headers["Authorization"] = (
            f"BackendAI signMethod=HMAC-SHA256, credential={self.access_key}:{signature}")
        return request


class AgentBearer(requests.auth.AuthBase):
    def __init__(self, secret):
        self.secret = secret

    def __call__(self, request):
        request.headers["Authorization"] = "Bearer " + self.secret
        return request


SIGNER = BackendAISignature(os.environ.get("ST_ACCESS_KEY", ""), os.environ.get("ST_SECRET_KEY", ""))
AGENT = AgentBearer(os.environ.get("ST_AGENT_SECRET", ""))
PUBLIC = {"/", "/health", "/metrics", "/openapi.yaml"}


def _known(name):
    return [item for item in os.environ.get(name, "").split(",") if item]


KNOWN = {
    "/session/": _known("ST_KNOWN_SESSIONS"),
    "/folders/": _known("ST_KNOWN_FOLDERS"),
    "/bgtasks/": _known("ST_KNOWN_TASKS"),
}


@schemathesis.hook
def map_path_parameters(context, path_parameters):
    """Half of the generated names become ones that exist (chosen by the generated value, so runs replay)."""
    if not path_parameters:
        return path_parameters
    path = context.operation.path
    for prefix, known in KNOWN.items():
        if path.startswith(prefix) and known:
            for key in ("name", "id"):
                value = path_parameters.get(key)
                if isinstance(value, str):
                    digest = hashlib.sha256(value.encode("utf-8", "surrogatepass")).digest()
                    if digest[0] % 2 == 0:
                        path_parameters[key] = known[digest[1] % len(known)]
    return path_parameters


@schemathesis.hook
def before_call(context, case, kwargs):
    path = case.operation.path
    if path in PUBLIC:
        return
    if path.startswith("/agent-rpc/"):
        kwargs["auth"] = AGENT
    else:
        kwargs["auth"] = SIGNER
