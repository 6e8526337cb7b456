"""Pages: a Space's analytics (host, co-hosts, staff), and the replay's counted link."""

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render

from rooms import selectors as rooms_selectors
from rooms.errors import NotFound, NotPermitted

from . import chart, selectors, services


def _space_or_404(code: str):
    try:
        return rooms_selectors.space_get(code=code)
    except NotFound:
        raise Http404("No such Space")


@login_required
def space_analytics(request, code):
    space = _space_or_404(code)
    try:
        selectors.require_viewer(space=space, user=request.user)
    except NotPermitted as error:
        return render(request, "analytics/denied.html", {"space": space, "detail": error.detail}, status=403)
    report = selectors.space_report(space=space)
    return render(request, "analytics/space.html", {
        "space": space, "report": report, "chart": chart.listeners_svg(report),
        "interval": f"{settings.SPACES_ANALYTICS_SAMPLE_INTERVAL:g}",
    })


def replay_play(request, code):
    """The replay's link that counts: a fetch from the first byte is a play, then the file is
    served where it lives (the media route, or the web server in production)."""
    space = _space_or_404(code)
    if not space.replay:
        raise Http404("This Space has no replay")
    if request.method == "GET" and request.headers.get("Range", "").replace(" ", "") in ("", "bytes=0-"):
        services.replay_play_count(space=space)
    return redirect(space.replay_url)

