"""Account pages: the profile (email address, reminders, browser notifications) and password
resets by email (Django's views with the project's templates and a queued email)."""

from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.urls import reverse_lazy

from rooms.errors import SpaceError
from scheduling import selectors as scheduling_selectors
from spaces.clients import client_ip

from . import services
from .forms import EmailForm, QueuedPasswordResetForm


@login_required
def profile(request):
    form = EmailForm(request.POST or None, initial={"email": request.user.email})
    if request.method == "POST" and form.is_valid():
        try:
            user = services.account_email_change(user=request.user, email=form.cleaned_data["email"])
        except SpaceError as error:
            form.add_error("email", error.detail)
        else:
            messages.success(request, f"Your email address is now {user.email}." if user.email else "Your email address is removed: no more emails.")
            return redirect("profile")
    return render(
        request,
        "accounts/profile.html",
        {
            "form": form,
            "reminders": scheduling_selectors.reminders_upcoming(user=request.user)[:50],
            "push_browsers": scheduling_selectors.push_subscription_count(user=request.user),
        },
        status=400 if request.method == "POST" else 200,
    )


class PasswordResetView(auth_views.PasswordResetView):
    form_class = QueuedPasswordResetForm
    template_name = "registration/password_reset_form.html"
    email_template_name = "emails/password_reset.txt"
    subject_template_name = "emails/password_reset_subject.txt"
    success_url = reverse_lazy("password_reset_done")

    def form_valid(self, form):
        wait = services.password_reset_wait(email=form.cleaned_data["email"], client=client_ip(self.request))
        if wait:
            form.add_error("email", f"A reset link was asked for a moment ago. Check your email, or try again in {wait} seconds.")
            response = self.form_invalid(form)
            response.status_code = 429
            response["Retry-After"] = str(wait)
            return response
        return super().form_valid(form)


class PasswordResetDoneView(auth_views.PasswordResetDoneView):
    template_name = "registration/password_reset_done.html"


class PasswordResetConfirmView(auth_views.PasswordResetConfirmView):
    template_name = "registration/password_reset_confirm.html"
    success_url = reverse_lazy("password_reset_complete")


class PasswordResetCompleteView(auth_views.PasswordResetCompleteView):
    template_name = "registration/password_reset_complete.html"
