"""Pages: home, the host's dashboard, the public share page (which is also the live room), the
calendar file, and the account pages. Every change goes through a service."""

import mimetypes
import re
from datetime import UTC, timedelta
from pathlib import Path

from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.conf import settings
from django.http import FileResponse, Http404, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils._os import safe_join
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from accounts.forms import SignUpForm

from . import selectors, services
from .errors import NotFound, SpaceError
from .forms import RescheduleForm, ScheduleForm, StartForm
from .identity import visitor_for_request, ws_ticket
from .limits import SCHEDULE_AHEAD_MAX
from .models import Space


def home(request):
    return render(
        request,
        "rooms/home.html",
        {
            "live": selectors.live_counted(selectors.space_list(state=Space.State.LIVE)[:100])[:30],
            "upcoming": selectors.space_list(state=Space.State.SCHEDULED)[:30],
        },
    )


@login_required
def dashboard(request):
    start_form = StartForm(prefix="start")
    schedule_form = ScheduleForm(prefix="schedule")
    if request.method == "POST":
        if "start" in request.POST:
            start_form = StartForm(request.POST, prefix="start")
            space = _create(start_form, lambda d: services.space_create(
                host=request.user, title=d["title"], description=d["description"], record=d["record"]
            ))
        else:
            schedule_form = ScheduleForm(request.POST, prefix="schedule")
            space = _create(schedule_form, lambda d: services.space_create(
                host=request.user, title=d["title"], description=d["description"],
                scheduled_for=d["scheduled_for"], record=d["record"],
            ))
        if space is not None:
            messages.success(request, f"“{space.title}” is {'live' if space.is_live else 'scheduled'}. Share the link below.")
            return redirect("share", code=space.code) if space.is_live else redirect("dashboard")
    mine = selectors.space_list().filter(host=request.user)
    return render(
        request,
        "rooms/dashboard.html",
        {
            "start_form": start_form,
            "schedule_form": schedule_form,
            "live": selectors.live_counted(mine.filter(state=Space.State.LIVE)),
            "scheduled": mine.filter(state=Space.State.SCHEDULED).order_by("scheduled_for"),
            "past": mine.exclude(state__in=[Space.State.LIVE, Space.State.SCHEDULED]).order_by("-created_at")[:30],
            "reschedule_form": RescheduleForm(prefix="reschedule"),
            "schedule_ahead_days": SCHEDULE_AHEAD_MAX.days,
        },
        status=400 if request.method == "POST" else 200,
    )


def _create(form, create):
    if not form.is_valid():
        return None
    try:
        return create(form.cleaned_data)
    except SpaceError as error:
        form.add_service_error(error)
        return None


@login_required
@require_POST
def space_action(request, code, action):
    space = _space_or_404(code)
    try:
        if action == "start":
            services.space_go_live(space=space, actor=request.user)
            return redirect("share", code=code)
        if action == "end":
            services.space_end(space=space, actor=request.user)
            messages.success(request, f"“{space.title}” has ended.")
        elif action == "cancel":
            services.space_cancel(space=space, actor=request.user)
            messages.success(request, f"“{space.title}” is cancelled.")
        elif action == "reschedule":
            form = RescheduleForm(request.POST, prefix="reschedule")
            if not form.is_valid():
                messages.error(request, " ".join(e for errors in form.errors.values() for e in errors))
                return redirect("dashboard")
            services.space_reschedule(space=space, actor=request.user, scheduled_for=form.cleaned_data["scheduled_for"])
            messages.success(request, f"“{space.title}” is rescheduled.")
        else:
            raise Http404("No such action")
    except SpaceError as error:
        messages.error(request, error.detail)
    return redirect("dashboard")


def share(request, code):
    space = _space_or_404(code)
    # Signed-out visitors get their listener label now, so the websocket knows them.
    visitor = visitor_for_request(request, create=True)
    me = selectors.participant_for(space=space, visitor=visitor)
    if me is not None and me.blocked:
        return render(request, "rooms/removed.html", {"space": space}, status=403)
    reminded = (
        request.user.is_authenticated
        and space.state == Space.State.SCHEDULED
        and space.reminders.filter(user=request.user).exists()
    )
    return render(
        request,
        "rooms/share.html",
        {
            "space": space,
            # Links follow the origin the page is served on (behind a proxy: its forwarded host).
            "share_url": request.build_absolute_uri(space.get_absolute_url()),
            "me": me,
            # Names a signed-out listener to the websocket even when it is sent without cookies.
            "ws_ticket": ws_ticket(visitor),
            "reminded": reminded,
            "is_host": request.user.is_authenticated and request.user.pk == space.host_id,
            "listener_count": selectors.listener_count(space=space) if space.is_live else 0,
            "stage": selectors.stage(space=space) if space.is_live else [],
            "reactions": services.REACTIONS,
        },
    )


def share_calendar(request, code):
    """An .ics file so a listener can put a scheduled Space in their calendar."""
    space = _space_or_404(code)
    if space.scheduled_for is None:
        raise Http404("This Space has no scheduled time.")
    start = space.scheduled_for.astimezone(UTC)
    stamp = "%Y%m%dT%H%M%SZ"
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        "PRODID:-//Spaces//Spaces//EN",
        "CALSCALE:GREGORIAN",
        "METHOD:PUBLISH",
        "BEGIN:VEVENT",
        f"UID:{space.code}@spaces",
        f"DTSTAMP:{timezone.now().strftime(stamp)}",
        f"DTSTART:{start.strftime(stamp)}",
        f"DTEND:{(start + timedelta(hours=1)).strftime(stamp)}",
        f"SUMMARY:{_ics_text(space.title)}",
        f"DESCRIPTION:{_ics_text((space.description + chr(10) if space.description else '') + 'Listen: ' + space.share_url)}",
        f"URL:{space.share_url}",
        "END:VEVENT",
        "END:VCALENDAR",
    ]
    response = HttpResponse("\r\n".join(lines) + "\r\n", content_type="text/calendar; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="space-{space.code}.ics"'
    return response


_RANGE = re.compile(r"bytes=(\d*)-(\d*)")


def media_file(request, path):
    """A file under MEDIA_ROOT (replays) in a local run, with HTTP Range requests, which audio
    players need to read an Ogg file's length and to seek in it. Production serves MEDIA_ROOT
    from Caddy, which does the same."""
    try:
        full = Path(safe_join(settings.MEDIA_ROOT, path))
    except Exception:  # a path that climbs out of MEDIA_ROOT (SuspiciousFileOperation)
        raise Http404("No such file")
    if not full.is_file():
        raise Http404("No such file")
    size = full.stat().st_size
    content_type = mimetypes.guess_type(full.name)[0] or "application/octet-stream"
    wanted = _RANGE.fullmatch(request.headers.get("Range", "").strip())
    if not wanted or not (wanted[1] or wanted[2]):
        response = FileResponse(full.open("rb"), content_type=content_type)
    else:
        start, end = (int(wanted[1]), int(wanted[2] or size - 1)) if wanted[1] else (max(0, size - int(wanted[2])), size - 1)
        end = min(end, size - 1)
        if start > end:
            response = HttpResponse(status=416)
            response["Content-Range"] = f"bytes */{size}"
            return response
        with full.open("rb") as file:
            file.seek(start)
            response = HttpResponse(file.read(end - start + 1), status=206, content_type=content_type)
        response["Content-Range"] = f"bytes {start}-{end}/{size}"
    response["Accept-Ranges"] = "bytes"
    return response


def _ics_text(value: str) -> str:
    return value.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,").replace("\r", "").replace("\n", "\\n")


def _space_or_404(code: str) -> Space:
    try:
        return selectors.space_get(code=code)
    except NotFound:
        raise Http404("No such Space")


def signup(request):
    if request.user.is_authenticated:
        return redirect("dashboard")
    form = SignUpForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            user = form.save()  # accounts.services.account_create
        except SpaceError as error:
            form.add_error("email" if error.code == "email_taken" else None, error.detail)
            return render(request, "registration/signup.html", {"form": form})
        # Several backends (django-axes watches sign-ins first): the account's is Django's.
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        target = request.GET.get("next")
        if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
            return redirect(target)
        return redirect("dashboard")
    return render(request, "registration/signup.html", {"form": form})


class SignInView(auth_views.LoginView):
    redirect_authenticated_user = True


class SignOutView(auth_views.LogoutView):
    pass

