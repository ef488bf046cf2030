"""The S3 direct request path: per-object requests signed and sent without botocore's
request pipeline.

Why: the pipeline (endpoint rules, event hooks, modelled response parsing) costs 2-3 ms
of CPU per request, more than the request itself on a fast network, and parsing a
1,000-key listing page takes it about 0.2 s; a direct request costs under 1 ms, a page a
few ms. For many small objects that is most of a transfer's time.

How: one HeadBucket request made through the client shows where botocore sends requests
for the bucket (path or virtual-host style, custom endpoint, the region a redirect led
to) and the SigV4 scope it signs for. Later requests are signed with botocore's own
signer (botocore.auth.S3SigV4Auth) and sent through the client's own HTTP session, so
that they use its connection pool, proxies, TLS and timeout settings, unchanged.

The one private thing used is where botocore keeps that session (``client._endpoint.
http_session``). A public alternative exists -- a second botocore URLLib3Session built
from the client's configuration -- but it would have to repeat how botocore derives
proxies, CA bundle, client certificate and socket options, and a copy that drifted
would send these requests with other TLS or proxy settings than the client's, silently.
A private attribute that moves fails loudly instead: pyproject.toml bounds botocore to
the versions this was tested with, tests/test_s3_direct.py fails if the attribute is
gone, and without it every request goes through the client (a -v note says so).
Responses are read by s3_responses.py, the same as the client path's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

import botocore.exceptions
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest, AWSResponse


@dataclass(frozen=True)
class Route:
    """How direct requests reach the bucket."""

    object_base: str  # URL of the bucket's root as a folder: an object's URL is this + its quoted key
    bucket_url: str  # URL for bucket-level requests (listing)
    region: str  # what to sign for
    service: str
    http: Any  # the client's botocore.httpsession.URLLib3Session


@dataclass(frozen=True)
class NoRoute:
    """Why every request goes through the client instead (shown with -v)."""

    reason: str


def client_http_session(client: Any) -> Any | None:
    """The HTTP session the client sends its requests through, or None if this botocore
    keeps it elsewhere (the private attribute this path depends on; see the module doc)."""
    http = getattr(getattr(client, "_endpoint", None), "http_session", None)
    return http if callable(getattr(http, "send", None)) else None


def discover(client: Any, bucket: str) -> Route | NoRoute:
    """Make one HeadBucket request through the client and note where it went and what it
    was signed for. A transient failure of that request is raised (the caller retries, and
    tries again to find the route); any other failure means: use the client."""
    http = client_http_session(client)
    if http is None:
        return NoRoute("this botocore keeps its HTTP session elsewhere than the versions artver was tested with")
    sent: list[Any] = []

    def capture(request: Any, **_: Any) -> None:
        sent.append(request)

    event = "before-send.s3.HeadBucket"
    client.meta.events.register(event, capture)
    try:
        client.head_bucket(Bucket=bucket)
    except botocore.exceptions.ClientError as error:
        status = int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
        if status >= 500 or status in (404, 429):  # transient, or no such bucket: the caller says so
            raise
        code = error.response.get("Error", {}).get("Code", "") or status
        return NoRoute(f"HeadBucket on the bucket was refused ({code})")
    finally:
        client.meta.events.unregister(event, capture)
    if not sent:
        return NoRoute("the client sent no HeadBucket request that could be observed")
    request = sent[-1]
    authorization = request.headers.get("Authorization", b"")
    if isinstance(authorization, bytes):
        authorization = authorization.decode("latin-1")
    scheme, _, fields = authorization.partition(" ")
    credential = fields.partition("Credential=")[2].split(",", 1)[0].split("/")
    if scheme != "AWS4-HMAC-SHA256" or len(credential) != 5:
        return NoRoute("the client does not sign its requests with SigV4")
    parts = urlsplit(request.url)
    origin = f"{parts.scheme}://{parts.netloc}"
    bucket_path = parts.path or "/"
    return Route(origin + bucket_path.rstrip("/") + "/", origin + bucket_path, credential[2], credential[3], http)


def send(route: Route, credentials: Any, method: str, full_key: str, query: str = "",
         headers: dict[str, str] | None = None, body: Any = None, stream: bool = False) -> AWSResponse:
    """One signed request for an object (or, with ``full_key`` empty, for the bucket).
    ``credentials`` are the session's (refreshable) credentials; None raises
    NoCredentialsError, as the client would."""
    url = route.object_base + quote(full_key, safe="/~-_.") if full_key else route.bucket_url
    request = AWSRequest(method=method, url=f"{url}?{query}" if query else url, headers=headers, data=body)
    if credentials is None:
        raise botocore.exceptions.NoCredentialsError()
    S3SigV4Auth(credentials.get_frozen_credentials(), route.service, route.region).add_auth(request)
    prepared = request.prepare()
    prepared.stream_output = stream
    return route.http.send(prepared)


def quote_query(value: str) -> str:
    return quote(value, safe="-_.~")
