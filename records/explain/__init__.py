"""Plain-language explanations of a patient's records (issue 20).

The interface: an explainer takes records (already scoped by `records_for(actor)`) and returns
`Explanation`s and `Summary`s whose every sentence names the records it was built from
(records.explain.base). Which explainer runs is a setting, `PHR_EXPLAINER` (a dotted path to a
class); the rule-based one (records.explain.rules.RuleExplainer) is the default and the only one
shipped. Another engine implements `base.Explainer` and is named in the setting.
"""

from functools import lru_cache

from django.conf import settings
from django.utils.module_loading import import_string


@lru_cache(maxsize=4)
def _explainer_class(path: str):
    return import_string(path)


def explainer():
    """The configured explainer (records.explain.base.Explainer)."""
    return _explainer_class(settings.PHR_EXPLAINER)()
