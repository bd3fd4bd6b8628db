from rest_framework.pagination import CursorPagination


class DefaultCursorPagination(CursorPagination):
    """Every API list is cursor-paginated: stable under inserts and O(1) per page at any depth."""

    ordering = "-id"
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200
