"""Generation records, their output images, the sweeper's lease, the provider's breaker and
admission bookkeeping, and the webhook calls already applied."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from django.conf import settings
from django.db import models, transaction
from django.db.models import Exists, OuterRef, Q

from generations import reviewers
from generations.wavespeed import contract


def _labelled(values: tuple[str, ...], labels: dict[str, str]) -> list[tuple[str, str]]:
    """Choices of the API's values, in the contract's order, with the app's labels.

    A value the contract gains or loses stops the import until it is labelled here.
    """
    if set(labels) != set(values):
        raise ValueError(f"labels for {sorted(labels)}; the API's values are {list(values)}")
    return [(value, labels[value]) for value in values]


ASPECT_RATIO_CHOICES = _labelled(
    contract.ASPECT_RATIOS,
    {
        "21:9": "21:9 ultrawide",
        "16:9": "16:9 widescreen",
        "4:3": "4:3 landscape",
        "3:2": "3:2 photo",
        "1:1": "1:1 square",
        "2:3": "2:3 portrait photo",
        "3:4": "3:4 portrait",
        "9:16": "9:16 story",
        "9:21": "9:21 tall",
    },
)
SAFETY_TOLERANCE_CHOICES = _labelled(
    contract.SAFETY_TOLERANCES,
    {"1": "1 (strictest)", "2": "2 (default)", "3": "3", "4": "4", "5": "5 (most permissive)"},
)


class Visibility(models.TextChoices):
    TEAM = "team", "Team"
    PRIVATE = "private", "Private"


# The author of work whose account was deleted. Usernames cannot hold a space, so no account
# can pass for it.
DELETED_AUTHOR = "deleted user"


def default_visibility() -> str:
    return settings.DEFAULT_VISIBILITY


def is_moderator(user) -> bool:
    """Moderators see everything, private and flagged work included."""
    return bool(user.is_authenticated and reviewers.may_review(user))


class GenerationQuerySet(models.QuerySet):
    def visible_to(self, user) -> GenerationQuerySet:
        """Generations this user may see: every page, JSON answer and file goes through here.

        Team work is visible to every signed-in user, private work to its owner, and all of it
        to moderators. Held work (images, and none of them shown: all awaiting review or
        removed) counts as private until a moderator approves one: its prompt and settings are
        as much the flagged content as its images. Work with no image yet (in flight, failed)
        follows the team rule. Which of a generation's images a user may see is
        `OutputImageQuerySet.visible_to`'s call.
        """
        if not user.is_authenticated:
            return self.none()
        if is_moderator(user):
            return self
        # Plain columns, no subquery: the test fits the gallery's index on its order, and its
        # plan stays the same whether or not the database has statistics on the tables.
        return self.filter(Q(owner=user) | Q(team_visible=True))

    def refresh_held(self) -> int:
        """Recompute `held` for these generations from their images; returns rows changed."""
        images = OutputImage.objects.filter(generation=OuterRef("pk"))
        held = Exists(images) & ~Exists(images.filter(moderation__in=SHOWN_STATES))
        # Only rows whose value changes are written.
        return self.filter(held, held=False).update(held=True) + self.filter(held=True).exclude(
            held
        ).update(held=False)

    def with_favourite_of(self, user) -> GenerationQuerySet:
        """Annotate `is_favourite` for this user in the same query."""
        if not user.is_authenticated:
            return self.annotate(is_favourite=models.Value(False))
        return self.annotate(
            is_favourite=Exists(Favourite.objects.filter(user=user, generation=OuterRef("pk")))
        )

    def billable(self) -> GenerationQuerySet:
        """Generations that cost money: failed tasks are refunded by the provider."""
        return self.exclude(status=Generation.Status.FAILED)


class Generation(models.Model):
    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        SUBMITTING = "submitting", "Sending"
        PROCESSING = "processing", "Generating"
        DOWNLOADING = "downloading", "Saving"
        COMPLETED = "completed", "Completed"
        FAILED = "failed", "Failed"
        TIMED_OUT = "timed_out", "Timed out"

    IN_FLIGHT = (Status.QUEUED, Status.SUBMITTING, Status.PROCESSING, Status.DOWNLOADING)
    FINISHED = (Status.COMPLETED, Status.FAILED, Status.TIMED_OUT)

    # Deleting an account keeps its work: its team work stays in the gallery, shown as by a
    # deleted user, and its private work, now nobody's, is seen by moderators only.
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="generations"
    )

    # The personal access token a script sent it with, through the gateway (None: the form).
    # The gateway's in-flight cap counts by it.
    access_token = models.ForeignKey(
        "accounts.PersonalAccessToken",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="generations",
    )

    # What was asked for: the API's own parameter names.
    prompt = models.TextField()
    aspect_ratio = models.CharField(
        max_length=5, choices=ASPECT_RATIO_CHOICES, default=contract.ASPECT_RATIO_DEFAULT
    )
    seed = models.BigIntegerField(help_text="The seed actually sent, so any image can be redone.")
    seed_was_random = models.BooleanField(default=False)
    guidance_scale = models.FloatField(default=contract.GUIDANCE_DEFAULT)
    safety_tolerance = models.CharField(
        max_length=1,
        choices=SAFETY_TOLERANCE_CHOICES,
        default=contract.SAFETY_TOLERANCE_DEFAULT,
    )
    model = models.CharField(max_length=200, default=contract.MODEL_ID)
    visibility = models.CharField(
        max_length=8, choices=Visibility.choices, default=default_visibility
    )
    # Held: it has images and none of them is shown (all awaiting review or removed). The
    # images' own writes keep it, in their transaction, whatever makes them (ingest, a decision,
    # a report, the admin): `OutputImage.save`, `OutputImageQuerySet.update` and `bulk_create`,
    # and the deletion signal. The visibility rule then reads a column instead of the images.
    held = models.BooleanField(
        default=False, editable=False, help_text="Has images, none of them shown to the team."
    )
    # The team's half of the rule as one column, computed by the database. One boolean rather
    # than two tests matters to PostgreSQL before it has statistics (right after a bulk load):
    # it takes a boolean for half the rows but `visibility = 'team'` for 0.5% of them, and
    # would then sort every visible row instead of walking the index on the gallery's order.
    team_visible = models.GeneratedField(
        # A Q is a boolean expression to Django; the stubs want an Expression.
        expression=Q(visibility=Visibility.TEAM, held=False),  # type: ignore[arg-type]
        output_field=models.BooleanField(),
        db_persist=True,
    )
    # A batch of N images is N generations, one prediction each, sharing this id.
    batch = models.UUIDField(null=True, blank=True, db_index=True)
    batch_index = models.PositiveSmallIntegerField(default=0)
    batch_size = models.PositiveSmallIntegerField(default=1)
    cost = models.DecimalField(max_digits=10, decimal_places=4, default=Decimal("0"))

    # Where it is in its life cycle.
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    api_status = models.CharField(max_length=32, blank=True)
    prediction_id = models.CharField(max_length=128, blank=True)
    error_code = models.IntegerField(null=True, blank=True)
    error = models.TextField(blank=True, help_text="What went wrong, in words for the user.")
    error_detail = models.TextField(blank=True, help_text="The API's own words, for staff.")
    inference_ms = models.PositiveIntegerField(null=True, blank=True)
    output_urls = models.JSONField(default=list, blank=True)
    nsfw_flags = models.JSONField(default=list, blank=True)

    # Bookkeeping of the pipeline (see generations/lifecycle.py).
    submit_attempts = models.PositiveSmallIntegerField(default=0)
    submit_ambiguous = models.BooleanField(default=False)
    # When the last submit was claimed; once its answer comes, when the API took it: polls
    # and the deadline count from here.
    submitted_at = models.DateTimeField(null=True, blank=True)
    unconfirmed_since = models.DateTimeField(
        null=True, blank=True, help_text="When the submit's answer was given up on."
    )
    next_check_at = models.DateTimeField(null=True, blank=True)
    poll_count = models.PositiveIntegerField(default=0)
    # The submit asked the API to call our webhook when it ends: polls are a slower safety net.
    webhook_requested = models.BooleanField(default=False)
    # The current run of failed polls: errors that will not clear are confirmed, then fail.
    failed_polls = models.PositiveSmallIntegerField(
        default=0, help_text="Polls in a row that failed with the same cause."
    )
    failed_poll_code = models.IntegerField(
        null=True, blank=True, help_text="The last failed poll's task code or HTTP status."
    )
    polls_failing_since = models.DateTimeField(
        null=True, blank=True, help_text="When polls began failing without an answer between."
    )
    ingest_attempts = models.PositiveSmallIntegerField(default=0)
    ingest_started_at = models.DateTimeField(null=True, blank=True)

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    objects = GenerationQuerySet.as_manager()

    class Meta:
        ordering = ("-created_at", "-id")
        indexes = [
            models.Index(fields=["-created_at", "-id"], name="generation_newest"),
            models.Index(fields=["owner", "-created_at", "-id"], name="generation_owner_newest"),
            # The gallery's filters on one value, in its order: the page reads its own rows
            # instead of sorting every match (which SQLite, never analysed, and PostgreSQL
            # right after a bulk load would otherwise do).
            models.Index(fields=["status", "-created_at", "-id"], name="generation_status_newest"),
            models.Index(
                fields=["aspect_ratio", "-created_at", "-id"], name="generation_ratio_newest"
            ),
            models.Index(fields=["status", "next_check_at"], name="generation_due"),
        ]
        constraints = [
            # One prediction belongs to one generation, however often a task is delivered.
            models.UniqueConstraint(
                fields=["prediction_id"],
                condition=~Q(prediction_id=""),
                name="generation_unique_prediction",
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.prompt[:60]}"

    @property
    def is_finished(self) -> bool:
        return self.status in self.FINISHED

    @property
    def is_private(self) -> bool:
        return self.visibility == Visibility.PRIVATE

    @property
    def author_name(self) -> str:
        """Who made it, as every page, JSON answer and the admin show it."""
        owner = self.owner
        return owner.get_username() if owner is not None else DELETED_AUTHOR

    def can_manage(self, user) -> bool:
        """The owner and staff may delete a generation and change its visibility."""
        return user.is_authenticated and (user.pk == self.owner_id or user.is_staff)

    @property
    def ratio_class(self) -> str:
        """CSS class that reserves this aspect ratio's space before the image loads."""
        return "ratio-" + self.aspect_ratio.replace(":", "x")

    @property
    def expected_size(self) -> tuple[int, int]:
        return contract.OUTPUT_SIZES.get(self.aspect_ratio, (1024, 1024))

    def api_inputs(self) -> dict:
        """The request body sent to the API (without transport flags)."""
        return {
            "prompt": self.prompt,
            "aspect_ratio": self.aspect_ratio,
            "seed": self.seed,
            "guidance_scale": self.guidance_scale,
            "safety_tolerance": self.safety_tolerance,
        }


def _original_path(image: OutputImage, filename: str) -> str:
    created = image.generation.created_at
    return f"originals/{created:%Y/%m/%d}/{filename}"


def _thumbnail_path(image: OutputImage, filename: str) -> str:
    created = image.generation.created_at
    return f"thumbnails/{created:%Y/%m/%d}/{filename}"


def _display_path(image: OutputImage, filename: str) -> str:
    created = image.generation.created_at
    return f"display/{created:%Y/%m/%d}/{filename}"


class Moderation(models.TextChoices):
    VISIBLE = "visible", "Visible"
    PENDING = "pending", "Awaiting review"
    APPROVED = "approved", "Approved"
    REJECTED = "rejected", "Removed by a moderator"


# States in which an image is shown to everyone who may see its generation.
SHOWN_STATES = (Moderation.VISIBLE, Moderation.APPROVED)


class OutputImageQuerySet(models.QuerySet):
    def listed_for(
        self, user, generations: Sequence[Generation] | None = None
    ) -> OutputImageQuerySet:
        """Images that appear to this user on a generation they may see.

        Teammates see shown images only; owners also see their own images awaiting review
        (as a placeholder) or removed (as a notice); moderators see everything.

        Given `generations`, the rows these images are fetched for (a prefetch), their owners
        are read from those rows and the images come in their `index` order, so the query
        never joins the generations: PostgreSQL, before it has statistics on a freshly loaded
        table, answered that join by hashing every generation (36 ms at 100,000).
        """
        if is_moderator(user):
            return self if generations is None else self.order_by("index")
        if not user.is_authenticated:
            return self.none()
        if generations is None:
            return self.filter(Q(moderation__in=SHOWN_STATES) | Q(generation__owner=user))
        others = [generation.pk for generation in generations if generation.owner_id != user.pk]
        # Said as an exclusion, with no OR for the planner to index: the prefetch's own
        # `generation_id IN (...)` is then the only way in. (Asked as "shown, or mine", a
        # planner without statistics read every shown image through the moderation index.)
        return self.exclude(Q(generation_id__in=others) & ~Q(moderation__in=SHOWN_STATES)).order_by(
            "index"
        )

    def visible_to(self, user) -> OutputImageQuerySet:
        """Images whose file this user may fetch: every image download goes through here.

        Pending images are the owner's and moderators' only; rejected ones moderators' only.
        """
        if is_moderator(user):
            return self
        images = self.filter(generation__in=Generation.objects.visible_to(user))
        return images.filter(
            Q(moderation__in=SHOWN_STATES)
            | Q(moderation=Moderation.PENDING, generation__owner=user)
        )

    def shown(self) -> OutputImageQuerySet:
        return self.filter(moderation__in=SHOWN_STATES)

    def update(self, **kwargs) -> int:
        """Update, and keep the generations' `held` in the same transaction."""
        if "moderation" not in kwargs and "generation" not in kwargs:
            return super().update(**kwargs)
        with transaction.atomic(using=self.db):
            generations = set(self.values_list("generation_id", flat=True))
            changed = super().update(**kwargs)
            if "generation" in kwargs:
                generations.add(getattr(kwargs["generation"], "pk", kwargs["generation"]))
            refresh_held(generations)
        return changed

    update.alters_data = True  # type: ignore[attr-defined]

    def bulk_create(self, objs, *args, **kwargs) -> list[OutputImage]:
        with transaction.atomic(using=self.db):
            created = super().bulk_create(objs, *args, **kwargs)
            refresh_held({image.generation_id for image in created})
        return created

    bulk_create.alters_data = True  # type: ignore[attr-defined]


def refresh_held(generation_ids: set[int]) -> None:
    """Recompute `held` for these generations, after their images changed in this transaction.

    The generations' rows are locked first and `held` computed in a statement of its own, so
    it sees every other change to their images committed meanwhile: two transactions changing
    images of one generation take turns, and the second computes from the first's result.
    Images are always locked before their generation (a decision, a report, ingest, a
    deletion), so the two never wait on each other in a circle; NO KEY UPDATE leaves a new
    image's foreign key check free to pass.
    """
    ids = sorted(pk for pk in generation_ids if pk is not None)
    with transaction.atomic():
        for start in range(0, len(ids), 500):  # within SQLite's limit on parameters
            chunk = Generation.objects.filter(pk__in=ids[start : start + 500])
            list(chunk.select_for_update(no_key=True).order_by("pk").values_list("pk"))
            chunk.refresh_held()


class OutputImage(models.Model):
    generation = models.ForeignKey(Generation, on_delete=models.CASCADE, related_name="images")
    index = models.PositiveSmallIntegerField(help_text="Position in the prediction's outputs.")
    source_url = models.URLField(max_length=2000, blank=True)
    original = models.FileField(upload_to=_original_path, max_length=300)
    # The tile's WebP, with `placeholder` and `color` below: empty until made from one decode
    # of the original, just after ingest stored it (`background_renditions`), or by the first
    # page that asks (`renditions.thumbnail_file`). Its size is set on ingest.
    thumbnail = models.FileField(upload_to=_thumbnail_path, max_length=300, blank=True)
    # The WebP that pages and the lightbox show; the original is for download. Empty until a
    # page first asks for it (`renditions.display_file`) or `manage.py make_display_renditions`
    # makes it ahead.
    display = models.FileField(upload_to=_display_path, max_length=300, blank=True)
    format = models.CharField(max_length=8)
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    thumbnail_width = models.PositiveIntegerField()
    thumbnail_height = models.PositiveIntegerField()
    display_width = models.PositiveIntegerField(null=True, blank=True)
    display_height = models.PositiveIntegerField(null=True, blank=True)
    size_bytes = models.PositiveIntegerField()
    nsfw = models.BooleanField(
        help_text="Flagged by the API's has_nsfw_contents; a missing flag counts as flagged."
    )
    moderation = models.CharField(
        max_length=8, choices=Moderation.choices, default=Moderation.VISIBLE, db_index=True
    )
    # A tiny, heavily blurred copy (a data: URI): the tile's placeholder while the thumbnail
    # loads, and all an owner sees of an image awaiting review until they reveal it.
    placeholder = models.TextField(blank=True)
    color = models.CharField(max_length=7, blank=True, help_text="Average colour, #rrggbb.")
    created_at = models.DateTimeField(auto_now_add=True)

    objects = OutputImageQuerySet.as_manager()

    class Meta:
        ordering = ("generation", "index")
        indexes = [
            # "Has this generation a shown image?" for every row `visible_to` looks at.
            models.Index(fields=["generation", "moderation"], name="image_generation_moderation"),
        ]
        constraints = [
            models.UniqueConstraint(fields=["generation", "index"], name="image_unique_index"),
        ]
        permissions = [(reviewers.CODENAME, "Can review flagged images")]

    def __str__(self) -> str:
        return f"Image {self.index} of generation #{self.generation_id}"

    def save(self, *args, **kwargs) -> None:
        # The generation's `held` follows in the same transaction (see Generation.held).
        new_and_shown = self._state.adding and self.moderation in SHOWN_STATES
        with transaction.atomic(using=kwargs.get("using")):
            super().save(*args, **kwargs)
            if new_and_shown:
                # A shown image ends any hold on its own, whatever the others' states: one
                # conditional write instead of recomputing (ingest stores most images so).
                Generation.objects.filter(pk=self.generation_id, held=True).update(held=False)
            else:
                refresh_held({self.generation_id})

    @property
    def is_shown(self) -> bool:
        return self.moderation in SHOWN_STATES


class Favourite(models.Model):
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="favourites"
    )
    generation = models.ForeignKey(Generation, on_delete=models.CASCADE, related_name="favourites")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "generation"], name="favourite_once")
        ]

    def __str__(self) -> str:
        return f"{self.user} likes #{self.generation_id}"


class Report(models.Model):
    """A teammate's report of an image; open reports put it in the moderation queue."""

    image = models.ForeignKey(OutputImage, on_delete=models.CASCADE, related_name="reports")
    reporter = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="reports"
    )
    reporter_name = models.CharField(max_length=150)
    reason = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("-created_at",)
        indexes = [models.Index(fields=["image", "resolved_at"], name="report_open")]

    def __str__(self) -> str:
        return f"Report of image {self.image_id} by {self.reporter_name}"


class ModerationDecision(models.Model):
    """The audit log: one append-only row per decision, kept whatever is deleted later."""

    image = models.ForeignKey(
        OutputImage, on_delete=models.SET_NULL, null=True, related_name="decisions"
    )
    image_ref = models.PositiveBigIntegerField(help_text="The image's id, kept if it is deleted.")
    generation_ref = models.PositiveBigIntegerField()
    from_state = models.CharField(max_length=8, choices=Moderation.choices)
    to_state = models.CharField(max_length=8, choices=Moderation.choices)
    moderator = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        related_name="moderation_decisions",
    )
    moderator_name = models.CharField(max_length=150)
    note = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ("-created_at", "-id")

    def __str__(self) -> str:
        return f"{self.moderator_name}: image {self.image_ref} {self.from_state} -> {self.to_state}"


class Budget(models.Model):
    """A monthly spending limit, for one user or for the whole team."""

    class Scope(models.TextChoices):
        TEAM = "team", "The whole team"
        USER = "user", "One user"

    scope = models.CharField(max_length=4, choices=Scope.choices, default=Scope.USER)
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="budget",
    )
    monthly_limit = models.DecimalField(
        max_digits=10, decimal_places=2, help_text="US dollars per calendar month."
    )

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=(
                    Q(scope="team", user__isnull=True) | Q(scope="user", user__isnull=False)
                ),
                name="budget_scope_matches_user",
                violation_error_message=("A team budget has no user; a user budget needs one."),
            ),
            models.UniqueConstraint(
                fields=["scope"],
                condition=Q(scope="team"),
                name="budget_one_team_limit",
                violation_error_message="There is already a team budget.",
            ),
            models.CheckConstraint(condition=Q(monthly_limit__gte=0), name="budget_not_negative"),
        ]

    def __str__(self) -> str:
        who = "Team" if self.scope == self.Scope.TEAM else str(self.user)
        return f"{who}: ${self.monthly_limit}/month"


class Lease(models.Model):
    """A named lock with an expiry, so one sweeper runs at a time across all workers."""

    name = models.CharField(max_length=64, primary_key=True)
    holder = models.CharField(max_length=64, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return self.name


class CircuitBreaker(models.Model):
    """The provider's health as every worker sees it: one row (see generations/breaker.py).

    Closed: submits go. Open: submits wait until a probe at `next_probe_at` finds the API well
    again. Half-open: a worker is running that probe right now.
    """

    class State(models.TextChoices):
        CLOSED = "closed", "Closed"
        OPEN = "open", "Open"
        HALF_OPEN = "half_open", "Half-open"

    class Reason(models.TextChoices):
        NONE = "", "None"
        OUTAGE = "outage", "The API is not answering"
        KEY_REFUSED = "key_refused", "The API key was refused"
        OUT_OF_FUNDS = "out_of_funds", "The balance is empty"

    name = models.CharField(max_length=32, primary_key=True)
    state = models.CharField(max_length=9, choices=State.choices, default=State.CLOSED)
    reason = models.CharField(max_length=12, choices=Reason.choices, blank=True, default="")
    detail = models.TextField(blank=True, help_text="The API's own words, for staff.")
    failures = models.PositiveIntegerField(
        default=0, help_text="Transient failures in a row while closed."
    )
    probes = models.PositiveIntegerField(default=0, help_text="Failed probes since it opened.")
    opened_at = models.DateTimeField(null=True, blank=True)
    next_probe_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.name}: {self.state} {self.reason}".strip()


class WaitingGeneration(models.Model):
    """A queued generation that admission held back (account limits, or the breaker open).

    Oldest first: `queued_at` is the generation's creation time. `released_at` is set when a
    slot was found for it and its submit task enqueued, so the next passes leave it alone.
    """

    generation = models.OneToOneField(
        Generation, on_delete=models.CASCADE, primary_key=True, related_name="admission_wait"
    )
    queued_at = models.DateTimeField()
    waiting_since = models.DateTimeField()
    released_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["queued_at", "generation"], name="waiting_oldest_first")]

    def __str__(self) -> str:
        return f"#{self.generation_id} waiting since {self.waiting_since:%H:%M:%S}"


class SentSubmit(models.Model):
    """The moment a submit was sent: the per-minute cap counts these; older rows are pruned."""

    sent_at = models.DateTimeField(db_index=True)

    def __str__(self) -> str:
        return f"submit sent at {self.sent_at:%H:%M:%S}"


class WebhookDelivery(models.Model):
    """A webhook call from the API that was verified and applied, remembered by its id so a
    replay (or the API's own retry) within the signature's window is not applied twice.

    Rows older than that window can go: an older call is refused for its timestamp anyway.
    """

    webhook_id = models.CharField(max_length=128, primary_key=True)
    received_at = models.DateTimeField(db_index=True)

    def __str__(self) -> str:
        return f"webhook {self.webhook_id} at {self.received_at:%H:%M:%S}"
