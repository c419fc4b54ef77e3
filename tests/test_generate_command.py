"""`manage.py generate`: the playground's form and path from the command line."""

from __future__ import annotations

import io
import re
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command
from PIL import Image

from generations.models import Budget, Generation
from tests.factories import make_generation

pytestmark = pytest.mark.django_db(transaction=True)

S = Generation.Status


def generate(*args: str) -> str:
    """Run the command; what it printed."""
    out = io.StringIO()
    call_command("generate", *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def test_a_prompt_becomes_a_queued_generation_of_the_user_and_a_sweep_is_asked(alice, enqueued):
    printed = generate("A lighthouse at dusk", "--user", "alice")
    generation = Generation.objects.get()
    assert generation.owner == alice
    assert generation.prompt == "A lighthouse at dusk"
    assert (generation.aspect_ratio, generation.guidance_scale) == ("1:1", 3.5)
    assert generation.seed_was_random and generation.visibility == "team"
    assert generation.status == S.QUEUED
    assert enqueued == [("sweep", None)]
    assert f"#{generation.pk}  seed {generation.seed}  /generations/{generation.pk}/" in printed


def test_every_option_reaches_the_generations(alice, enqueued):
    generate(
        "A row of paper lanterns",
        "--user=alice",
        "--aspect-ratio=16:9",
        "--seed=100",
        "--guidance-scale=4.5",
        "--safety-tolerance=3",
        "--num-images=3",
        "--visibility=private",
    )
    batch = list(Generation.objects.order_by("batch_index"))
    assert [g.seed for g in batch] == [100, 101, 102]
    assert {
        (g.aspect_ratio, g.guidance_scale, g.safety_tolerance, g.visibility) for g in batch
    } == {("16:9", 4.5, "3", "private")}
    assert {g.batch for g in batch} == {batch[0].batch} and batch[0].batch is not None


def test_a_seed_of_minus_one_means_random(alice, enqueued):
    generate("A fox", "--user", "alice", "--seed", "-1")
    assert Generation.objects.get().seed_was_random


def test_pages_are_given_with_the_base_url(alice, enqueued):
    printed = generate("A fox", "--user", "alice", "--base-url", "https://play.example.com/")
    pk = Generation.objects.get().pk
    assert f"https://play.example.com/generations/{pk}/" in printed


@pytest.mark.parametrize(
    ("args", "complaint"),
    [
        (["--guidance-scale", "21"], "--guidance-scale: Guidance scale must be between 1 and 20."),
        (
            ["--guidance-scale", "strong"],
            "--guidance-scale: Guidance scale must be a number between 1 and 20.",
        ),
        (["--aspect-ratio", "5:1"], "--aspect-ratio: Choose one of the aspect ratios shown."),
        (["--seed", "12ab"], "--seed: Type the seed as a whole number"),
        (["--seed", "-2"], "--seed:"),
        (["--num-images", "5"], "--num-images: Choose between 1 and 4 images."),
        (
            ["--safety-tolerance", "6"],
            "--safety-tolerance: Safety tolerance must be one of 1, 2, 3, 4 or 5.",
        ),
        (["--visibility", "public"], "--visibility: Choose team or private."),
        (["--timeout", "0"], "--timeout must be a positive number"),
    ],
)
def test_bad_options_are_refused_with_the_forms_words_and_nothing_is_made(
    alice, enqueued, args, complaint
):
    with pytest.raises(CommandError, match=complaint.replace(".", r"\.")):
        generate("A fox", "--user", "alice", *args)
    assert not Generation.objects.exists()
    assert enqueued == []


@pytest.mark.parametrize(
    ("prompt", "complaint"),
    [
        ("   ", "prompt: Describe the image you want"),
        ("\u200b\u200b", "prompt: The prompt has only spaces or invisible characters"),
        ("a\x07bell", "prompt: The prompt contains a control character"),
        ("x" * 2001, "prompt: The prompt can be at most 2000 characters long"),
    ],
)
def test_a_prompt_the_form_refuses_is_refused(alice, enqueued, prompt, complaint):
    with pytest.raises(CommandError, match=complaint):
        generate(prompt, "--user", "alice")
    assert not Generation.objects.exists()


def test_an_unknown_user_is_refused(alice, enqueued):
    with pytest.raises(CommandError, match="No active account named 'mallory'"):
        generate("A fox", "--user", "mallory")
    assert not Generation.objects.exists()


def test_an_inactive_user_is_refused(alice, enqueued):
    alice.is_active = False
    alice.save()
    with pytest.raises(CommandError, match="No active account named 'alice'"):
        generate("A fox", "--user", "alice")


def test_without_user_the_only_superuser_is_the_author(alice, admin, enqueued):
    generate("A fox")
    assert Generation.objects.get().owner == admin


def test_without_user_and_no_superuser_the_command_asks_for_one(alice, enqueued):
    with pytest.raises(CommandError, match=r"There is no active superuser: .* --user"):
        generate("A fox")


def test_without_user_and_two_superusers_the_command_asks_which(admin, django_user_model, enqueued):
    django_user_model.objects.create_superuser("root2", password="x")
    with pytest.raises(CommandError, match=r"There are several superusers: .* --user"):
        generate("A fox")
    assert not Generation.objects.exists()


def test_a_batch_over_the_users_budget_is_refused_before_anything_is_made(alice, enqueued):
    Budget.objects.create(scope=Budget.Scope.USER, user=alice, monthly_limit=Decimal("0.10"))
    make_generation(alice, cost=Decimal("0.04"), status=S.COMPLETED)
    with pytest.raises(CommandError, match=r"Your monthly budget is \$0\.10"):
        generate("A fox", "--user", "alice", "--num-images", "2")
    assert Generation.objects.count() == 1
    assert enqueued == []


def test_wait_and_out_write_the_original_under_a_descriptive_name(
    alice, simulator, sync_tasks, tmp_path
):
    out = tmp_path / "images"
    printed = generate(
        "A paper boat on a puddle, macro!",
        "--user=alice",
        "--seed=42",
        "--aspect-ratio=16:9",
        "--wait",
        f"--out={out}",
    )
    generation = Generation.objects.get()
    assert generation.status == S.COMPLETED
    path = out / f"{generation.pk}-a-paper-boat-on-a-puddle-macro-42.png"
    assert [p.name for p in out.iterdir()] == [path.name]
    with Image.open(path) as image:
        assert (image.format, image.size) == ("PNG", (1392, 752))
    assert f"#{generation.pk}  Completed" in printed
    assert f"Wrote {path}" in printed


def test_out_alone_waits_and_names_a_batchs_images_by_their_place(
    alice, simulator, sync_tasks, tmp_path
):
    out = tmp_path / "out"
    generate("Two moons", "--user=alice", "--seed=7", "--num-images=2", f"--out={out}")
    first, second = Generation.objects.order_by("batch_index")
    assert sorted(p.name for p in out.iterdir()) == [
        f"{first.pk}-two-moons-7-1of2.png",
        f"{second.pk}-two-moons-8-2of2.png",
    ]


def test_a_failed_generation_ends_the_command_with_its_reason_and_no_file(
    alice, simulator, sync_tasks, tmp_path
):
    with pytest.raises(CommandError, match=r"#\d+ failed: .*content moderation"):
        generate("[fail:1200] a statue", "--user=alice", "--wait", f"--out={tmp_path / 'out'}")
    assert list((tmp_path / "out").iterdir()) == []
    assert Generation.objects.get().status == S.FAILED


def test_a_flagged_image_is_written_for_its_author_with_a_warning(
    alice, simulator, sync_tasks, tmp_path
):
    err = io.StringIO()
    out = tmp_path / "out"
    call_command(
        "generate",
        "[nsfw] a statue",
        "--user=alice",
        f"--out={out}",
        stdout=io.StringIO(),
        stderr=err,
    )
    assert len(list(out.iterdir())) == 1
    assert "awaits a moderator's review" in err.getvalue()


def test_waiting_past_the_timeout_fails_and_names_what_is_still_running(alice, enqueued):
    # Nothing runs the enqueued sweep: the generation stays queued.
    with pytest.raises(CommandError) as refusal:
        generate("A fox", "--user=alice", "--wait", "--timeout=0.3")
    assert re.search(r"Not finished within 0\.3 s: #\d+ \(queued\)", str(refusal.value))
    assert "Is the task cluster running" in str(refusal.value)
    assert Generation.objects.get().status == S.QUEUED


def test_a_folder_that_cannot_be_made_is_a_clear_error_before_anything_is_queued(
    alice, enqueued, tmp_path
):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    with pytest.raises(CommandError, match="Cannot make the folder"):
        generate("A fox", "--user=alice", f"--out={blocker / 'images'}")
    assert not Generation.objects.exists() and enqueued == []


def test_ctrl_c_while_waiting_stops_the_wait_with_a_message_not_a_traceback(
    alice, enqueued, monkeypatch
):
    from generations.management.commands import generate as command

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(command.time, "sleep", interrupted)
    with pytest.raises(CommandError, match="Stopped waiting") as refusal:
        generate("A fox", "--user=alice", "--wait")
    assert refusal.value.returncode == 130
    assert Generation.objects.get().status == S.QUEUED


def test_a_long_wait_says_the_generation_is_still_at_it(alice, enqueued, monkeypatch):
    from generations.management.commands import generate as command

    monkeypatch.setattr(command, "STILL_SECONDS", 0.1)
    out = io.StringIO()
    with pytest.raises(CommandError, match="Not finished within"):
        call_command("generate", "A fox", "--user=alice", "--wait", "--timeout=1.2", stdout=out)
    pk = Generation.objects.get().pk
    assert re.search(rf"s  #{pk}  Queued\n", out.getvalue())
    assert re.search(rf"s  #{pk}  still queued", out.getvalue())
