# Code each local rule must catch (tests/test_tools.py runs semgrep on this file). Never imported.
# ruff: noqa
import hmac
import logging

from django.db import connection
from django.shortcuts import get_object_or_404
from django.utils.safestring import mark_safe
from django.views.decorators.csrf import csrf_exempt

logger = logging.getLogger(__name__)


def secret_compared_with_equals(share, token):
    return share.token_hash == hash_token(token)


def secret_compared_properly(share, token):
    return hmac.compare_digest(share.token_hash, hash_token(token))


@csrf_exempt
def csrf_exempt_view(request):
    return None


def mark_safe_on_non_literal(name):
    return mark_safe(f"<b>{name}</b>")


def raw_sql_string_building(patient_id):
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT * FROM records_record WHERE patient_id = {patient_id}")


def sensitive_value_logged(token):
    logger.info("share opened with %s", token)
