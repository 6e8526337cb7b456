"""DRF's throttles, keyed on the client's address as spaces.clients works it out."""

from rest_framework.throttling import ScopedRateThrottle

from spaces.clients import client_ip


class ClientScopedRateThrottle(ScopedRateThrottle):
    """``ScopedRateThrottle`` whose signed-out callers are told apart by ``client_ip``: DRF's own
    ``get_ident`` keys on the whole ``X-Forwarded-For`` header when ``NUM_PROXIES`` is unset, which
    any client writes as it likes."""

    def get_ident(self, request):
        return client_ip(request)
