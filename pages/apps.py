from django.apps import AppConfig


class PagesConfig(AppConfig):
    """Pages that compose several apps: the dashboard, "download all my data", deleting the
    account. Above every domain app, below the wiring; it owns no models."""

    name = "pages"
    verbose_name = "Composed pages"
