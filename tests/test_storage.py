"""Media through Django's storage API: S3 for several hosts, X-Accel-Redirect / X-Sendfile on disk.

S3 is moto in server mode on a loopback port: real HTTP, real boto3, no AWS.
"""

from __future__ import annotations

import io
import tracemalloc
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import boto3
import pytest
from django.core.files.storage import default_storage
from django.http import FileResponse
from moto.moto_server.threaded_moto_server import ThreadedMotoServer
from PIL import Image

from generations import submission
from generations.models import Generation
from tests.factories import add_image, make_generation

PARAMS = {
    "prompt": "A copper kettle on a stove",
    "aspect_ratio": "4:3",
    "seed": 5,
    "guidance_scale": 3.5,
    "safety_tolerance": "2",
}


@dataclass(frozen=True)
class Bucket:
    endpoint: str
    name: str

    def keys(self) -> set[str]:
        client = boto3.client("s3", endpoint_url=self.endpoint, region_name="us-east-1")
        listing = client.list_objects_v2(Bucket=self.name)
        return {item["Key"] for item in listing.get("Contents", [])}


@pytest.fixture
def s3_storage(monkeypatch, settings) -> Iterator[Bucket]:
    """The default storage switched to a fresh bucket, as AWS_STORAGE_BUCKET_NAME does.

    moto serves S3 on a loopback port; boto3 finds the credentials in the environment.
    """
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    # moto keeps its state per process, not per server: a bucket of its own per test.
    bucket = Bucket(endpoint=f"http://{host}:{port}", name=f"media-{uuid.uuid4().hex[:12]}")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test-access-key")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test-secret-key")
    boto3.client("s3", endpoint_url=bucket.endpoint, region_name="us-east-1").create_bucket(
        Bucket=bucket.name
    )
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {
                "bucket_name": bucket.name,
                "endpoint_url": bucket.endpoint,
                "region_name": "us-east-1",
                "file_overwrite": False,
                "default_acl": None,
            },
        },
    }
    try:
        yield bucket
    finally:
        server.stop()


@pytest.mark.django_db(transaction=True)
def test_ingested_images_land_in_the_bucket_and_are_served_only_after_login(
    s3_storage, alice, bob, simulator, sync_tasks, client, media_root
):
    [generation] = submission.create_batch(alice, PARAMS)
    generation.refresh_from_db()
    assert generation.status == Generation.Status.COMPLETED, generation.error
    image = generation.images.get()
    assert s3_storage.keys() == {image.original.name, image.thumbnail.name}
    assert not media_root.exists()  # nothing went to local disk

    client.force_login(bob)
    original = client.get(f"/images/{image.pk}/original/")
    assert original.status_code == 200
    assert original["Content-Type"] == "image/png"
    assert Image.open(io.BytesIO(b"".join(original.streaming_content))).size == (1184, 880)
    assert original["Content-Length"] == str(image.original.size)
    thumbnail = client.get(f"/images/{image.pk}/thumbnail/")
    assert Image.open(io.BytesIO(b"".join(thumbnail.streaming_content))).format == "WEBP"
    display = client.get(f"/images/{image.pk}/display/")
    assert display["Content-Type"] == "image/webp"
    assert Image.open(io.BytesIO(b"".join(display.streaming_content))).size == (1184, 880)
    image.refresh_from_db()  # the first view made it, into the bucket too
    assert s3_storage.keys() == {image.original.name, image.thumbnail.name, image.display.name}
    assert not media_root.exists()
    download = client.get(f"/images/{image.pk}/original/?download=1")
    assert "attachment" in download["Content-Disposition"]

    client.logout()
    anonymous = client.get(f"/images/{image.pk}/original/")
    assert anonymous.status_code == 302
    assert anonymous.url.startswith("/accounts/login/")


@pytest.mark.django_db
def test_a_second_file_with_a_taken_name_gets_a_name_of_its_own_in_the_bucket(s3_storage):
    first = default_storage.save("originals/x.png", io.BytesIO(b"first"))
    second = default_storage.save("originals/x.png", io.BytesIO(b"second"))
    assert first != second
    assert default_storage.open(first).read() == b"first"


@pytest.mark.django_db
def test_an_object_missing_from_the_bucket_is_a_404(s3_storage, alice_client, alice):
    image = add_image(make_generation(alice))
    default_storage.delete(image.original.name)
    assert alice_client.get(f"/images/{image.pk}/original/").status_code == 404


@pytest.mark.django_db
def test_nginx_sends_local_files_after_the_permission_check(alice_client, alice, settings):
    settings.MEDIA_ACCEL_REDIRECT_PREFIX = "/protected-media/"
    image = add_image(make_generation(alice))
    answer = alice_client.get(f"/images/{image.pk}/original/?download=1")
    assert answer.status_code == 200
    assert answer["X-Accel-Redirect"] == f"/protected-media/{image.original.name}"
    assert answer.content == b""
    assert answer["Content-Type"] == "image/png"
    assert "attachment" in answer["Content-Disposition"]
    assert answer["Cache-Control"].startswith("private")


@pytest.mark.django_db
def test_x_sendfile_names_the_file_on_disk(alice_client, alice, settings, media_root):
    settings.MEDIA_SENDFILE = True
    image = add_image(make_generation(alice))
    answer = alice_client.get(f"/images/{image.pk}/thumbnail/")
    assert answer["X-Sendfile"] == str(media_root / image.thumbnail.name)
    assert answer["Content-Type"] == "image/webp"


@pytest.mark.django_db
def test_accel_redirect_is_never_given_to_an_anonymous_visitor(client, alice, settings):
    settings.MEDIA_ACCEL_REDIRECT_PREFIX = "/protected-media/"
    image = add_image(make_generation(alice))
    answer = client.get(f"/images/{image.pk}/original/")
    assert answer.status_code == 302
    assert "X-Accel-Redirect" not in answer


@pytest.mark.django_db
def test_s3_storage_never_uses_accel_redirect(s3_storage, alice_client, alice, settings):
    settings.MEDIA_ACCEL_REDIRECT_PREFIX = "/protected-media/"
    image = add_image(make_generation(alice))
    answer = alice_client.get(f"/images/{image.pk}/original/")
    assert "X-Accel-Redirect" not in answer
    assert b"".join(answer.streaming_content).startswith(b"\x89PNG")


def large_original(image) -> bytes:
    """Replace an image's stored original by one of 2 MB (serving never decodes it)."""
    with image.original.open("rb") as handle:
        data = handle.read() + b"\0" * (2 * 1024 * 1024)
    default_storage.delete(image.original.name)
    assert default_storage.save(image.original.name, io.BytesIO(data)) == image.original.name
    return data


@pytest.mark.django_db
def test_an_original_is_streamed_in_blocks_never_held_whole(alice_client, alice):
    image = add_image(make_generation(alice))
    data = large_original(image)
    url = f"/images/{image.pk}/original/"
    b"".join(alice_client.get(url).streaming_content)  # imports and first-call caches aside
    tracemalloc.start()
    try:
        response = alice_client.get(url)
        blocks = [len(block) for block in response.streaming_content]
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert isinstance(response, FileResponse)
    assert sum(blocks) == len(data) and len(blocks) > 1
    assert response["Content-Length"] == str(len(data))
    assert peak < len(data) / 4, peak


@pytest.mark.django_db
def test_an_original_is_downloaded_under_its_name_and_shown_inline_otherwise(alice_client, alice):
    image = add_image(make_generation(alice, prompt="A red kite"))
    inline = alice_client.get(f"/images/{image.pk}/original/")
    assert inline["Content-Type"] == "image/png"
    assert not inline.get("Content-Disposition", "inline").startswith("attachment")
    download = alice_client.get(f"/images/{image.pk}/original/?download=1")
    assert download["Content-Disposition"] == (
        f'attachment; filename="kontext-{image.generation_id}-0-seed7-a-red-kite.png"'
    )
    assert download["Content-Length"] == str(image.original.size)
    assert inline["ETag"] != download["ETag"]
    assert b"".join(inline.streaming_content) == b"".join(download.streaming_content)


@pytest.mark.django_db
@pytest.mark.parametrize("variant", ["original", "display", "thumbnail"])
def test_a_browser_asking_again_with_its_etag_gets_a_304(alice_client, alice, variant):
    image = add_image(make_generation(alice))
    url = f"/images/{image.pk}/{variant}/"
    first = alice_client.get(url)
    assert b"".join(first.streaming_content)
    assert first["Cache-Control"] == "private, max-age=3600"
    again = alice_client.get(url, HTTP_IF_NONE_MATCH=first["ETag"])
    assert again.status_code == 304
    assert again["ETag"] == first["ETag"] and again.content == b""


@pytest.mark.django_db
def test_an_etag_gives_nothing_to_someone_who_may_not_see_the_file(client_for, alice, bob):
    image = add_image(make_generation(alice, visibility="private"))
    owner = client_for(alice).get(f"/images/{image.pk}/original/")
    assert b"".join(owner.streaming_content)
    answer = client_for(bob).get(f"/images/{image.pk}/original/", HTTP_IF_NONE_MATCH=owner["ETag"])
    assert answer.status_code == 404


@pytest.mark.django_db
def test_an_s3_object_is_streamed_from_its_body_not_downloaded_whole_first(
    s3_storage, alice_client, alice, monkeypatch
):
    from storages.backends.s3 import S3File

    image = add_image(make_generation(alice))
    data = large_original(image)

    def whole_download(self):
        raise AssertionError("the whole object was downloaded before sending")

    monkeypatch.setattr(S3File, "_get_file", whole_download)
    response = alice_client.get(f"/images/{image.pk}/original/")
    assert response["Content-Length"] == str(len(data))
    blocks = list(response.streaming_content)
    assert b"".join(blocks) == data and len(blocks) > 1
