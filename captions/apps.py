from django.apps import AppConfig


class CaptionsConfig(AppConfig):
    name = "captions"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from . import receivers, tasks  # noqa: F401  (hooks on rooms' replays; tasks queued by name)
