"""Pages: home, the host's dashboard, the public share page (which is also the live room), and
the account pages."""

from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import UserCreationForm
from django.http import Http404
from django.shortcuts import redirect, render

from . import selectors
from .errors import NotFound
from .models import Space


def home(request):
    return render(
        request,
        "rooms/home.html",
        {
            "live": selectors.space_list(state=Space.State.LIVE)[:50],
            "upcoming": selectors.space_list(state=Space.State.SCHEDULED)[:50],
        },
    )


@login_required
def dashboard(request):
    mine = selectors.space_list().filter(host=request.user)
    return render(
        request,
        "rooms/dashboard.html",
        {
            "live": mine.filter(state=Space.State.LIVE),
            "scheduled": mine.filter(state=Space.State.SCHEDULED),
            "past": mine.exclude(state__in=[Space.State.LIVE, Space.State.SCHEDULED])[:50],
        },
    )


def share(request, code):
    try:
        space = selectors.space_get(code=code)
    except NotFound:
        raise Http404("No such Space")
    return render(request, "rooms/share.html", {"space": space})


def signup(request):
    if request.user.is_authenticated:
        return redirect("dashboard")
    form = UserCreationForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = form.save()
        login(request, user)
        return redirect(request.GET.get("next") or "dashboard")
    return render(request, "registration/signup.html", {"form": form})


class SignInView(auth_views.LoginView):
    redirect_authenticated_user = True


class SignOutView(auth_views.LogoutView):
    pass
