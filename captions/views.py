"""Pages: a Space's transcript as a WebVTT file (kept with the replay, gone with it)."""

from django.http import Http404, HttpResponse

from rooms import selectors as rooms_selectors
from rooms.errors import NotFound

from . import selectors
from .gating import webvtt


def transcript_vtt(request, code):
    try:
        space = rooms_selectors.space_get(code=code)
    except NotFound:
        raise Http404("No such Space")
    response = HttpResponse(webvtt(selectors.transcript(space)), content_type="text/vtt; charset=utf-8")
    response["Content-Disposition"] = f'inline; filename="{space.code}-captions.vtt"'
    return response
