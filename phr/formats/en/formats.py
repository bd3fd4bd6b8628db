# English dates the way a Korean health service shows them: the month by name (no 11/12
# ambiguity between readers of US and other formats) and a 24-hour clock, as hospitals use.
DATE_FORMAT = "N j, Y"
SHORT_DATE_FORMAT = "M j, Y"
DATETIME_FORMAT = "N j, Y, H:i"
SHORT_DATETIME_FORMAT = "M j, Y, H:i"
TIME_FORMAT = "H:i"
