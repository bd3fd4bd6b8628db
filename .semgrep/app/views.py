# A view each lookup rule must catch (tests/test_tools.py runs semgrep on it). Never imported.
# ruff: noqa


def unscoped_object_lookup_in_view(request, code):
    return Record.objects.get(code=code)


def unscoped_get_or_404(request, code):
    return get_object_or_404(Share, code=code)


def scoped_lookup(request, code):
    return get_object_or_404(queries.shares_for(request.actor), code=code)
