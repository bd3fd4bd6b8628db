# Django's Korean formats, with numeric dates zero-padded: "2026-11-03", as Korean hospitals and
# forms write them ("2026-11-3" reads as a typo and does not line up in a table).
from django.conf.locale.ko.formats import *  # noqa: F403

SHORT_DATE_FORMAT = "Y-m-d"
SHORT_DATETIME_FORMAT = "Y-m-d H:i"
