from django.apps import AppConfig


class AnalyticsConfig(AppConfig):
    name = "analytics"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from . import receivers, tasks  # noqa: F401  (hooks on rooms' lifecycle; the sampler's task)
