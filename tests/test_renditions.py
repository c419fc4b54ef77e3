"""Display renditions: what pages show, made by the first view or ahead by a backfill."""

from __future__ import annotations

import io
from io import StringIO

import pytest
from django.core.files.storage import default_storage
from django.core.management import CommandError, call_command
from PIL import Image

from generations.models import OutputImage
from tests.factories import add_image, completed, make_generation

pytestmark = pytest.mark.django_db


def shown_url(client, image: OutputImage) -> str:
    data = client.get(f"/generations/{image.generation_id}/", HTTP_ACCEPT="application/json")
    [entry] = data.json()["images"]
    return entry["url"]


def files(media_root) -> set[str]:
    return {str(path.relative_to(media_root)) for path in media_root.rglob("*") if path.is_file()}


def backfill(*arguments: str) -> str:
    output = StringIO()
    call_command("make_display_renditions", *arguments, stdout=output, stderr=output)
    return output.getvalue()


def test_pages_show_the_display_rendition_and_offer_the_original_for_download(alice_client, alice):
    generation, image = completed(alice)
    assert shown_url(alice_client, image) == f"/images/{image.pk}/display/"
    page = alice_client.get(f"/generations/{generation.pk}/").content.decode()
    assert f'<img src="/images/{image.pk}/display/"' in page
    assert f'href="/images/{image.pk}/original/?download=1" download' in page
    assert f'src="/images/{image.pk}/original/"' not in page
    served = alice_client.get(f"/images/{image.pk}/display/")
    assert served["Content-Type"] == "image/webp"
    assert Image.open(io.BytesIO(b"".join(served.streaming_content))).format == "WEBP"


def test_an_image_without_a_display_rendition_gets_one_on_its_first_view(
    alice_client, alice, media_root
):
    image = add_image(make_generation(alice, status="completed"), display=False)
    assert shown_url(alice_client, image) == f"/images/{image.pk}/display/"
    served = alice_client.get(f"/images/{image.pk}/display/")
    assert (served.status_code, served["Content-Type"]) == (200, "image/webp")
    made = Image.open(io.BytesIO(b"".join(served.streaming_content)))
    image.refresh_from_db()
    assert image.display and (image.display_width, image.display_height) == made.size
    stored = files(media_root)
    assert alice_client.get(f"/images/{image.pk}/display/").status_code == 200
    assert files(media_root) == stored  # made once
    assert "Made the renditions of 0 images." in backfill()


def test_an_image_whose_display_rendition_cannot_be_made_shows_its_original(alice_client, alice):
    image = add_image(make_generation(alice, status="completed"), display=False)
    with default_storage.open(image.original.name, "wb") as handle:
        handle.write(b"not an image any more")
    served = alice_client.get(f"/images/{image.pk}/display/")
    assert (served.status_code, served["Content-Type"]) == (200, "image/png")
    assert b"".join(served.streaming_content) == b"not an image any more"
    image.refresh_from_db()
    assert not image.display


def test_an_image_whose_original_is_lost_answers_not_found_for_its_display(alice_client, alice):
    image = add_image(make_generation(alice, status="completed"), display=False)
    default_storage.delete(image.original.name)
    answer = alice_client.get(f"/images/{image.pk}/display/")
    assert answer.status_code == 404


def test_the_backfill_makes_each_missing_rendition_once_in_batches(alice, media_root):
    generation = make_generation(alice, status="completed")
    old = [
        add_image(generation, index=0, size=(64, 64), display=False),
        add_image(generation, index=1, size=(2400, 1200), display=False),
        add_image(generation, index=2, size=(80, 40), display=False),
    ]
    new = add_image(generation, index=3)
    untouched = new.display.name

    output = backfill("--batch-size", "2")
    assert "3 images without a display rendition or a thumbnail." in output
    assert "Made the renditions of 3 images." in output
    sizes = {}
    for image in old:
        image.refresh_from_db()
        with image.display.open("rb") as handle:
            rendition = Image.open(handle)
            assert rendition.format == "WEBP"
            sizes[image.index] = rendition.size
        assert (image.display_width, image.display_height) == rendition.size
    assert sizes == {0: (64, 64), 1: (1600, 800), 2: (80, 40)}
    new.refresh_from_db()
    assert new.display.name == untouched

    stored = files(media_root)
    assert "Made the renditions of 0 images." in backfill()
    assert files(media_root) == stored  # nothing made twice
    assert not OutputImage.objects.filter(display="").exists()


def test_an_image_whose_original_is_lost_is_named_and_the_others_still_get_theirs(alice):
    generation = make_generation(alice, status="completed")
    lost = add_image(generation, index=0, display=False)
    kept = add_image(generation, index=1, display=False)
    default_storage.delete(lost.original.name)
    with pytest.raises(CommandError, match="1 images could not be given one"):
        backfill()
    kept.refresh_from_db()
    lost.refresh_from_db()
    assert kept.display and not lost.display


def test_a_rendition_stored_meanwhile_by_another_run_is_kept_and_the_spare_file_removed(
    alice, media_root
):
    from generations import renditions

    image = add_image(make_generation(alice), display=False)
    stale_copy = OutputImage.objects.select_related("generation").get(pk=image.pk)
    assert renditions.make_display_rendition(image)
    image.refresh_from_db()
    before = files(media_root)
    # The second run read the row before the first one stored its rendition.
    assert not renditions.make_display_rendition(stale_copy)
    assert files(media_root) == before
    assert OutputImage.objects.get(pk=image.pk).display.name == image.display.name


def test_a_backup_carries_the_display_rendition(alice, tmp_path):
    from generations import backups

    _, image = completed(alice)
    backups.back_up(tmp_path / "backup")
    assert (tmp_path / "backup" / "media" / image.display.name).is_file()
