"""Pages of a clip: its share page (Open Graph audio tags for link previews), its audio (counted,
then served in byte ranges) and the delete button's form."""

from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from rooms.errors import NotFound, SpaceError
from rooms.identity import visitor_for_request
from rooms.views import media_file

from . import selectors, services


def _clip_or_404(code: str):
    try:
        return selectors.clip_get(code=code)
    except NotFound:
        raise Http404("No such clip")


def clip_page(request, code):
    clip = _clip_or_404(code)
    visitor = visitor_for_request(request)
    return render(request, "clips/clip.html", {
        "clip": clip,
        "space": clip.space,
        "page_url": request.build_absolute_uri(clip.get_absolute_url()),
        "audio_url": request.build_absolute_uri(clip.audio_path),
        "space_url": request.build_absolute_uri(clip.space.get_absolute_url()),
        "may_delete": selectors.may_delete(clip, visitor),
        "others": selectors.clips_ready(space=clip.space).exclude(pk=clip.pk)[:20],
    })


def clip_audio(request, code):
    """A fetch from the first byte is a play (players ask for the rest, or seek, with ranges
    that start later); the file is then served as the replay is, with Range support."""
    clip = _clip_or_404(code)
    if not clip.is_ready:
        raise Http404("This clip is not ready yet")
    wanted = request.headers.get("Range", "").replace(" ", "")
    if request.method == "GET" and wanted in ("", "bytes=0-"):
        services.clip_play_count(clip=clip)
    return media_file(request, clip.file)


@require_POST
def clip_delete(request, code):
    clip = _clip_or_404(code)
    try:
        services.clip_delete(clip=clip, visitor=visitor_for_request(request))
    except SpaceError as error:
        messages.error(request, error.detail)
        return redirect(clip.get_absolute_url())
    messages.success(request, "The clip is deleted.")
    return redirect(clip.space.get_absolute_url())
