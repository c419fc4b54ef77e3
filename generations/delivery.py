"""Answering with a stored file once the view has checked that the user may see it.

Three ways, chosen by settings:
- streamed from the storage through Django (the default; works for local disk and S3 alike,
  and the URL stays behind the permission check: no presigned link that anyone could reuse);
- MEDIA_ACCEL_REDIRECT_PREFIX: an empty answer with X-Accel-Redirect, and nginx sends the file
  from an `internal` location mapped to MEDIA_ROOT (local disk only);
- MEDIA_SENDFILE: the same with X-Sendfile for Apache's mod_xsendfile or lighttpd.
"""

from __future__ import annotations

from urllib.parse import quote

from django.conf import settings
from django.core.files.storage import FileSystemStorage
from django.db.models.fields.files import FieldFile
from django.http import FileResponse, Http404, HttpResponse
from django.http.response import HttpResponseBase
from django.utils.http import content_disposition_header

# Only the browser that was allowed may keep a file, and must ask again after an hour: a
# moderator's decision or a change of visibility takes effect within that time.
CACHE_CONTROL = "private, max-age=3600"


def stored_file_response(
    field: FieldFile, *, content_type: str, download_name: str | None = None
) -> HttpResponseBase:
    """The file behind `field`, inline or as a download named `download_name`."""
    if not field.name:
        raise Http404("This image has no stored file.")
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
        try:
            handle = field.storage.open(field.name, "rb")
        except FileNotFoundError:
            raise Http404("This image file is missing from storage.") from None
        response = FileResponse(
            handle,
            content_type=content_type,
            as_attachment=download_name is not None,
            filename=download_name or "",
        )
    response["Cache-Control"] = CACHE_CONTROL
    return response
