"""What every page may say about the reader's scope, so that a page never reads "None recorded"
for what the reader was not given (someone acting for the patient under a limited grant).

`not_shared`: the categories outside the actor's scope ("Not shared with you");
`scope_limited`: the scope leaves out institutions or dates ("None in the shared records").
A share's pages set both themselves (sharing.recipient); the view's values win.
"""

from records.models import Category


def scope(request) -> dict:
    actor = getattr(request, "actor", None)  # lazy: `not` asks for what it stands for
    if not actor or actor.scope.is_whole:
        return {"not_shared": frozenset(), "scope_limited": False}
    scope = actor.scope
    return {
        "not_shared": frozenset(Category.values) - scope.categories
        if scope.categories
        else frozenset(),
        "scope_limited": bool(scope.source_ids or scope.date_from or scope.date_to),
    }
