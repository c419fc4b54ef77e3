from django.apps import AppConfig


class GenerationsConfig(AppConfig):
    name = "generations"
    verbose_name = "Generations"

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        from generations import schedules, signals  # noqa: F401 (connects the receivers)

        post_migrate.connect(
            schedules.ensure_after_migrate, sender=self, dispatch_uid="generations_schedules"
        )
