"""A django-q2 schedule that prunes successful task results every five minutes
(generations/task_results.py): the cluster saves them unpruned."""

from django.db import migrations

SCHEDULE_NAME = "generations: prune task results"


def create_schedule(apps, schema_editor):
    Schedule = apps.get_model("django_q", "Schedule")
    Schedule.objects.update_or_create(
        name=SCHEDULE_NAME,
        defaults={
            "func": "generations.tasks.prune_task_results",
            "schedule_type": "I",  # minutes
            "minutes": 5,
            "repeats": -1,
        },
    )


def delete_schedule(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.filter(name=SCHEDULE_NAME).delete()


class Migration(migrations.Migration):
    dependencies = [("generations", "0015_output_image_thumbnail_made_after_ingest")]

    operations = [migrations.RunPython(create_schedule, delete_schedule)]
