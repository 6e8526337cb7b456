"""Account emails (password resets) go out from a worker, so a slow or absent mail server costs
the page nothing and is retried."""

from celery import shared_task
from django.core.mail import send_mail


@shared_task(autoretry_for=(OSError,), retry_backoff=10, retry_backoff_max=240, max_retries=8)
def email_send_task(subject: str, body: str, to: str):
    return send_mail(subject=subject, message=body, from_email=None, recipient_list=[to], fail_silently=False)
