"""OpenAPI post-processing: document the error answers every operation can give."""

ERRORS = {
    "400": "Invalid input: an object of field names to messages.",
    "401": "Not logged in (no or bad X-Session-Token).",
    "403": "Not allowed (for example, a second factor must be set up first).",
    "404": "Not found, or not yours (the API never says which).",
    "429": "Too many requests; retry later.",
}


def add_error_responses(result, generator, request, public):
    """Add the standard error responses to each operation that does not document its own.

    drf-spectacular documents success bodies only; clients (and schemathesis) need to know that
    a bad filter is a 400, a foreign id a 404, and so on.
    """
    for path in result.get("paths", {}).values():
        for operation in path.values():
            responses = operation.setdefault("responses", {})
            # Errors come in the media types the operation answers in (a FHIR download's
            # errors are rendered as application/fhir+json).
            media_types = {"application/json"}
            for response in responses.values():
                media_types |= set(response.get("content", {}))
            content = {media: {"schema": {"type": "object"}} for media in sorted(media_types)}
            for status, description in ERRORS.items():
                responses.setdefault(status, {"description": description, "content": content})
    return result
