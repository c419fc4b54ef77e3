"""Answering with a stored file once the view has checked that the user may see it.

Three ways, chosen by settings:
- streamed from the storage through Django (the default; works for local disk and S3 alike,
  and the URL stays behind the permission check: no presigned link that anyone could reuse).
  The file goes out in blocks and is never held whole in memory: an S3 object is read from
  its HTTP body as it arrives (django-storages' own files download the whole object into
  memory first);
- MEDIA_ACCEL_REDIRECT_PREFIX: an empty answer with X-Accel-Redirect, and nginx sends the file
  from an `internal` location mapped to MEDIA_ROOT (local disk only);
- MEDIA_SENDFILE: the same with X-Sendfile for Apache's mod_xsendfile or lighttpd.
"""

from __future__ import annotations

import hashlib
import sys
from typing import IO, Any
from urllib.parse import quote

from django.conf import settings
from django.core.files.storage import FileSystemStorage, Storage
from django.db.models.fields.files import FieldFile
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.utils.cache import get_conditional_response
from django.utils.http import content_disposition_header

# Only the browser that was allowed may keep a file, and must ask again after an hour: a
# moderator's decision or a change of visibility takes effect within that time. Asking again
# costs a 304: a stored file never changes under its name (storage gives every new file a
# fresh one), so the name is its ETag.
CACHE_CONTROL = "private, max-age=3600"


class StoredFileResponse(FileResponse):
    # Blocks of 64 KiB: few reads per file, and that much memory per answer in flight.
    block_size = 64 * 1024


def stored_file_response(
    request: HttpRequest,
    field: FieldFile,
    *,
    content_type: str,
    download_name: str | None = None,
) -> HttpResponseBase:
    """The file behind `field`, inline or as a download named `download_name`."""
    if not field.name:
        raise Http404("This image has no stored file.")
    etag = _etag(field.name, download_name)
    not_modified = get_conditional_response(request, etag=etag)
    if not_modified is not None:
        return _cacheable(not_modified, etag)
    on_local_disk = isinstance(field.storage, FileSystemStorage)
    if on_local_disk and (settings.MEDIA_ACCEL_REDIRECT_PREFIX or settings.MEDIA_SENDFILE):
        response: HttpResponseBase = HttpResponse(content_type=content_type)
        if settings.MEDIA_ACCEL_REDIRECT_PREFIX:
            prefix = settings.MEDIA_ACCEL_REDIRECT_PREFIX.rstrip("/")
            response["X-Accel-Redirect"] = f"{prefix}/{quote(field.name)}"
        else:
            response["X-Sendfile"] = field.storage.path(field.name)
        disposition = download_name and content_disposition_header(True, download_name)
        if disposition:
            response["Content-Disposition"] = disposition
    else:
        handle, size = _open(field.storage, field.name)
        response = StoredFileResponse(
            handle,
            content_type=content_type,
            as_attachment=download_name is not None,
            filename=download_name or "",
        )
        if size is not None:
            response["Content-Length"] = str(size)
    return _cacheable(response, etag)


def _etag(name: str, download_name: str | None) -> str:
    # The download answer differs from the inline one by its Content-Disposition.
    digest = hashlib.sha256(f"{name}\0{download_name or ''}".encode()).hexdigest()
    return f'"{digest[:32]}"'


def _cacheable(response: HttpResponseBase, etag: str) -> HttpResponseBase:
    response["ETag"] = etag
    response["Cache-Control"] = CACHE_CONTROL
    return response


def _open(storage: Storage, name: str) -> tuple[IO[bytes] | Any, int | None]:
    """A readable stream of the stored file, and its size when the stream cannot tell."""
    if _is_s3(storage):
        return _open_s3_object(storage, name)
    try:
        # A local file is seekable: FileResponse reads its size for Content-Length.
        return storage.open(name, "rb"), None
    except FileNotFoundError:
        raise Http404("This image file is missing from storage.") from None


def _is_s3(storage: object) -> bool:
    # An S3 storage in use has imported its module; local disk never pays for importing boto3.
    s3 = sys.modules.get("storages.backends.s3")
    return s3 is not None and isinstance(storage, s3.S3Storage)


def _open_s3_object(storage: Any, name: str) -> tuple[Any, int]:
    from botocore.exceptions import ClientError
    from storages.utils import clean_name

    # The storage's own name-to-key rule (its `location` prefix), as its open() uses.
    key = storage._normalize_name(clean_name(name))
    try:
        answer = storage.bucket.Object(key).get()
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") in {"NoSuchKey", "404"}:
            raise Http404("This image file is missing from storage.") from None
        raise
    return answer["Body"], int(answer["ContentLength"])
