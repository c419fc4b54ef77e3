"""The migrations describe the models: a change to a field (its choices too) comes with one."""

from io import StringIO

import pytest
from django.core.management import call_command


@pytest.mark.django_db
def test_the_models_need_no_new_migration():
    output = StringIO()
    try:
        call_command("makemigrations", "--check", "--dry-run", stdout=output)
    except SystemExit:
        pytest.fail(f"the models changed without a migration:\n{output.getvalue()}")


@pytest.mark.django_db(transaction=True)
def test_work_held_before_the_held_column_is_held_after_it():
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    before = [("generations", "0012_webhooks")]
    after = [("generations", "0013_held_generations_and_prompt_search")]
    executor = MigrationExecutor(connection)
    executor.migrate(before)
    apps = executor.loader.project_state(before).apps
    Generation = apps.get_model("generations", "Generation")
    OutputImage = apps.get_model("generations", "OutputImage")

    def made(prompt: str, *moderations: str):
        generation = Generation.objects.create(prompt=prompt, seed=1, visibility="team")
        for index, state in enumerate(moderations):
            OutputImage.objects.create(
                generation=generation,
                index=index,
                format="PNG",
                width=1,
                height=1,
                thumbnail_width=1,
                thumbnail_height=1,
                size_bytes=1,
                nsfw=state != "visible",
                moderation=state,
            )
        return generation.pk

    held = made("awaiting review", "pending", "rejected")
    shown = made("one shown", "pending", "approved")
    bare = made("no image yet")
    try:
        executor = MigrationExecutor(connection)
        executor.migrate(after)
        rows = dict(
            executor.loader.project_state(after)
            .apps.get_model("generations", "Generation")
            .objects.values_list("pk", "team_visible")
        )
        assert rows == {held: False, shown: True, bare: True}
    finally:
        MigrationExecutor(connection).migrate(executor.loader.graph.leaf_nodes())
