from django.apps import AppConfig


class PagesConfig(AppConfig):
    """Pages that compose several apps: the dashboard, "download all my data", deleting the
    account. Above every domain app, below the wiring; it owns no models."""

    name = "pages"
    verbose_name = "Composed pages"

    def ready(self):
        from notifications.domain import set_readers_hook
        from pages.reminders import readers_of

        set_readers_hook(readers_of)
