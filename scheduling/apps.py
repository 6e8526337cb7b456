from django.apps import AppConfig


class SchedulingConfig(AppConfig):
    name = "scheduling"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from . import receivers, tasks  # noqa: F401  (hooks on rooms' lifecycle; tasks queued by name)
