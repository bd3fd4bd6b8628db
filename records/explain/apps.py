from django.apps import AppConfig


class ExplainConfig(AppConfig):
    """Plain-language explanations of records: a room of `records` with its own table (when a
    patient last looked), so that its migrations never collide with the records app's."""

    name = "records.explain"
    label = "explain"
    verbose_name = "Explanations"
