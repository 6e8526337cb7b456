"""The product's limits, each written once: models, forms, serializers, services and pages read
them from here (the database constraints too, through the models)."""

from datetime import timedelta

TITLE_MAX = 70
DESCRIPTION_MAX = 280
# A Space is scheduled in the future and at most this far after the moment it was set.
SCHEDULE_AHEAD_MAX = timedelta(days=14)
# Defaults of the settings SPACES_MAX_SPEAKERS and SPACES_MAX_COHOSTS (service-side limits).
SPEAKERS_MAX = 13  # speaking roles at once, host and co-hosts included
COHOSTS_MAX = 2
