"""What an S3 response says, read the same way whichever path brought it.

The direct request path (s3_direct.py) and boto3's client must agree on what a response
means: the length a store states, a body cut short, an error code. Both hand their
responses to the functions here, so that neither can drift from the other (the direct
path once took a HEAD answer without a length for an empty object, after which push
deleted an intact object as damaged).

Every value read here comes from the network and is untrusted: a length that is not a
plain non-negative integer is "not stated", never 0 and never an exception.
"""

from __future__ import annotations

import xml.etree.ElementTree as ElementTree
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import botocore.exceptions

from artver.errors import TransientRemoteError
from artver.hashing import CHUNK_SIZE

MAX_LENGTH_DIGITS = 20  # more digits than any object size: not a length


def stated_size(headers: Mapping[str, str]) -> int | None:
    """The object size a response states in Content-Length, or None if it states none
    (or something that is not a length). ``headers`` looks names up case-insensitively or
    has them in lower case (botocore's ResponseMetadata.HTTPHeaders does)."""
    raw = headers.get("content-length")
    if raw is None:
        raw = headers.get("Content-Length")
    if raw is None:
        return None
    text = raw.strip()
    if not (text.isascii() and text.isdigit()) or len(text) > MAX_LENGTH_DIGITS:
        return None
    return int(text)


def read_body(raw: Any, headers: Mapping[str, str], write: Callable[[bytes], object], what: str,
              moved: Callable[[int], None] | None = None) -> int:
    """Stream a response body (a urllib3 response, not yet read) to ``write``; the number of
    bytes read. Reads return whatever has arrived (read1), so a server that sends slowly is
    noticed by ``moved`` (the low-speed rule) rather than hidden in a read waiting for a
    full chunk. A body shorter or longer than its stated length, or with no length where
    S3 always sends one, is a cut connection: TransientRemoteError, never a short success.
    The connection goes back to the pool only after a complete body."""
    length = stated_size(headers)
    chunked = "chunked" in (headers.get("transfer-encoding") or headers.get("Transfer-Encoding") or "").lower()
    received = 0
    try:
        if length is None and not chunked:
            # The connection was cut inside the headers: the empty "body" that follows must not
            # be mistaken for the content.
            raise TransientRemoteError(f"{what}: the response ended inside its headers")
        while chunk := raw.read1(CHUNK_SIZE):
            received += len(chunk)
            if moved is not None:
                moved(len(chunk))
            write(chunk)
        if length is not None and received != length:
            raise TransientRemoteError(f"{what}: the connection ended after {received} of {length} bytes")
    except BaseException:
        raw.close()  # a connection left mid-body cannot serve another request
        raise
    raw.release_conn()
    return received


def client_error(status: int, body: bytes, operation: str) -> botocore.exceptions.ClientError:
    """The ClientError botocore raises for an error response with this status and body, so
    that one translation (s3.py) serves both paths."""
    code, message = str(status), ""
    if body:
        try:
            root = ElementTree.fromstring(body)
            code = root.findtext("Code") or code
            message = root.findtext("Message") or ""
        except ElementTree.ParseError:
            pass
    return botocore.exceptions.ClientError(
        {"Error": {"Code": code, "Message": message}, "ResponseMetadata": {"HTTPStatusCode": status}}, operation,
    )


@dataclass(frozen=True)
class ListingPage:
    items: list[tuple[str, int | None]]
    truncated: bool
    token: str | None


def parse_listing(body: bytes) -> ListingPage:
    """A ListObjectsV2 result: the keys with their sizes (None where a size is missing or
    malformed), and where the next page starts."""
    root = ElementTree.fromstring(body)
    items = []
    truncated, token = False, None
    for element in root:
        tag = element.tag.rpartition("}")[2]  # with or without the S3 namespace
        if tag == "Contents":
            key, size = None, None
            for field in element:
                name = field.tag.rpartition("}")[2]
                if name == "Key":
                    key = field.text or ""
                elif name == "Size":
                    size = stated_size({"content-length": field.text or ""})
            if key is not None:
                items.append((key, size))
        elif tag == "IsTruncated":
            truncated = (element.text or "").strip().lower() == "true"
        elif tag == "NextContinuationToken":
            token = element.text
    return ListingPage(items, truncated, token)
