"""The studio on the Create page: a person's jobs (what one Generate made; a batch is one job)
as the cards its template renders, first with the page and then for its script."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from django.db.models import Prefetch
from django.http import HttpRequest
from django.template.loader import render_to_string
from django.urls import reverse

from generations.models import Generation, OutputImage
from generations.presenters import image_data
from generations.progress import Progress, progress_of, typical_seconds

RECENT_JOBS = 12
# The script asks for at most this many cards at once.
MAX_JOBS_PER_ASK = 20


@dataclass
class Cell:
    """One generation of a job: its progress and the images its viewer may see."""

    generation: Generation
    progress: Progress
    images: list[dict]

    @property
    def image(self) -> dict | None:
        return self.images[0] if self.images else None

    @property
    def retry_settings(self) -> dict:
        """This one image again, with its own seed: what a failed one's Retry sends."""
        g = self.generation
        return {
            "prompt": g.prompt,
            "aspect_ratio": g.aspect_ratio,
            "seed": g.seed,
            "guidance_scale": g.guidance_scale,
            "safety_tolerance": g.safety_tolerance,
            "num_images": 1,
            "visibility": g.visibility,
        }


@dataclass
class Job:
    """The generations of one submission, in batch order."""

    generations: list[Generation]
    cells: list[Cell] = field(default_factory=list)

    @property
    def first(self) -> Generation:
        return self.generations[0]

    @property
    def id(self) -> int:
        return self.first.pk

    @property
    def finished(self) -> bool:
        return all(g.is_finished for g in self.generations)

    @property
    def done_count(self) -> int:
        return sum(1 for g in self.generations if g.status == Generation.Status.COMPLETED)

    @property
    def seed_range(self) -> str:
        seeds = [g.seed for g in self.generations]
        return str(seeds[0]) if len(seeds) == 1 else f"{seeds[0]} to {seeds[-1]}"

    @property
    def rerun_settings(self) -> dict:
        return self.settings(seed=self.first.seed)

    @property
    def vary_settings(self) -> dict:
        return self.settings(seed=None)

    def settings(self, *, seed: int | None) -> dict:
        """The form's values that make this job again (seed None: a new random one)."""
        first = self.first
        return {
            "prompt": first.prompt,
            "aspect_ratio": first.aspect_ratio,
            "seed": "" if seed is None else seed,
            "guidance_scale": first.guidance_scale,
            "safety_tolerance": first.safety_tolerance,
            "num_images": len(self.generations),
            "visibility": first.visibility,
        }

    @property
    def key(self) -> str:
        """Changes whenever the card would look different, but not with the clock alone."""
        parts: list[str] = []
        for cell in self.cells:
            g = cell.generation
            images = ",".join(f"{i['id']}{i['moderation']}{i['blurred']}" for i in cell.images)
            favourite = getattr(g, "is_favourite", False)
            parts.append(f"{g.pk}:{g.status}:{cell.progress.words}:{favourite}:{images}")
        return hashlib.blake2s("|".join(parts).encode(), digest_size=8).hexdigest()


def _visible(viewer):
    return (
        Generation.objects.visible_to(viewer)
        .select_related("owner")
        .with_favourite_of(viewer)
        .prefetch_related(
            Prefetch("images", queryset=OutputImage.objects.listed_for(viewer)),
        )
    )


def _fill(jobs: list[Job], viewer) -> list[Job]:
    typical = typical_seconds()
    for job in jobs:
        job.cells = [
            Cell(
                generation=g,
                progress=progress_of(g, typical),
                images=[image_data(image, viewer) for image in g.images.all()],
            )
            for g in job.generations
        ]
    return jobs


def _group(generations: list[Generation]) -> list[Job]:
    """Generations newest first, grouped into jobs by batch, each in batch order."""
    jobs: dict[object, Job] = {}
    for generation in generations:
        key = generation.batch or generation.pk
        jobs.setdefault(key, Job(generations=[])).generations.append(generation)
    for job in jobs.values():
        job.generations.sort(key=lambda g: g.batch_index)
    return list(jobs.values())


def recent_jobs(viewer, limit: int = RECENT_JOBS) -> list[Job]:
    """The viewer's own latest jobs, newest first."""
    mine = _visible(viewer).filter(owner_id=viewer.pk)
    latest = list(mine.order_by("-created_at", "-id")[: limit * 4])
    batches = {g.batch for g in latest if g.batch}
    # A batch cut by the slice above is completed from its other members.
    known = {g.pk for g in latest}
    latest += [g for g in mine.filter(batch__in=batches) if g.pk not in known]
    latest.sort(key=lambda g: (g.created_at, g.pk), reverse=True)
    return _fill(_group(latest)[:limit], viewer)


def jobs_by_id(viewer, ids: list[int]) -> list[Job]:
    """The jobs whose first generation has one of these ids, as this viewer may see them."""
    firsts = list(_visible(viewer).filter(pk__in=ids[:MAX_JOBS_PER_ASK]))
    batches = {g.batch for g in firsts if g.batch}
    members = list(_visible(viewer).filter(batch__in=batches)) if batches else []
    by_batch: dict[object, list[Generation]] = {}
    for member in members:
        by_batch.setdefault(member.batch, []).append(member)
    jobs = [
        Job(generations=sorted(by_batch.get(g.batch, [g]), key=lambda m: m.batch_index))
        if g.batch
        else Job(generations=[g])
        for g in firsts
    ]
    # Two ids of one batch ask for one card.
    return _fill(list({job.id: job for job in jobs}.values()), viewer)


def job_of(viewer, generation: Generation) -> Job:
    """The job a generation belongs to (its batch, as far as the viewer may see it)."""
    if not generation.batch:
        return _fill([Job(generations=[generation])], viewer)[0]
    members = list(_visible(viewer).filter(batch=generation.batch).order_by("batch_index"))
    return _fill([Job(generations=members or [generation])], viewer)[0]


def render_card(job: Job, request: HttpRequest) -> str:
    """The job's card: the same template the page renders it with."""
    # Rendered for the studio's script, a card's forms still lead back to the studio.
    context = {"job": job, "next": reverse("generations:playground")}
    return render_to_string("generations/_job_card.html", context, request=request)


def card_data(job: Job, request: HttpRequest) -> dict:
    """A card as the studio's script swaps it in."""
    return {
        "id": job.id,
        "key": job.key,
        "finished": job.finished,
        "detail_url": reverse("generations:detail", args=[job.id]),
        "html": render_card(job, request),
    }
