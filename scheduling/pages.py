"""Pages of the calendar's side (the notifications on the dashboard come from
``scheduling.context_processors``)."""

from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from . import services


@login_required
@require_POST
def notifications_read(request):
    services.notifications_mark_all_read(user=request.user)
    target = request.POST.get("next") or reverse("dashboard")
    if not url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        target = reverse("dashboard")
    return redirect(target)
