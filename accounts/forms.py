"""Account forms: they collect input; ``accounts.services`` decides, and its errors go back next
to the field they are about."""

import logging

from django import forms
from django.contrib.auth.forms import PasswordResetForm, UserCreationForm
from django.core.mail import send_mail
from django.template import loader
from kombu.exceptions import OperationalError

from rooms.errors import SpaceError
from spaces.celery import queue

from . import services

logger = logging.getLogger(__name__)

EMAIL_HELP = "Optional. For reminders by email and to reset a forgotten password."


class SignUpForm(UserCreationForm):
    email = forms.EmailField(required=False, help_text=EMAIL_HELP, widget=forms.EmailInput(attrs={"autocomplete": "email"}))

    class Meta(UserCreationForm.Meta):
        fields = ("username", "email")

    def clean_email(self):
        try:
            email = services.email_normalize(self.cleaned_data.get("email", ""))
            services.email_check_free(email)
        except SpaceError as error:
            raise forms.ValidationError(error.detail, code=error.code)
        return email

    def save(self, commit=True):
        return services.account_create(
            username=self.cleaned_data["username"],
            password=self.cleaned_data["password1"],
            email=self.cleaned_data.get("email", ""),
        )


class EmailForm(forms.Form):
    email = forms.EmailField(
        required=False, label="Email address", help_text="Leave empty to get no emails.",
        widget=forms.EmailInput(attrs={"autocomplete": "email"}),
    )


class QueuedPasswordResetForm(PasswordResetForm):
    """Django's reset form, with the email rendered here and sent by a worker."""

    def send_mail(self, subject_template_name, email_template_name, context, from_email, to_email, html_email_template_name=None):
        subject = "".join(loader.render_to_string(subject_template_name, context).splitlines())
        body = loader.render_to_string(email_template_name, context)
        try:
            queue("accounts.tasks.email_send_task", subject, body, to_email)
        except OperationalError:
            # No broker: send it from here rather than not at all (the page says the same either way).
            logger.warning("Celery broker unreachable: sending a password-reset email directly")
            try:
                send_mail(subject=subject, message=body, from_email=None, recipient_list=[to_email])
            except OSError:
                logger.exception("A password-reset email could not be sent")
