from django.urls import path

from . import views

urlpatterns = [
    path("", views.home, name="home"),
    path("dashboard/", views.dashboard, name="dashboard"),
    path(
        "dashboard/spaces/<str:code>/<str:action>/",
        views.space_action,
        name="space-action",
    ),
    path("s/<str:code>/", views.share, name="share"),
    path("s/<str:code>/calendar.ics", views.share_calendar, name="share-calendar"),
    path("accounts/signup/", views.signup, name="signup"),
    path("accounts/login/", views.SignInView.as_view(), name="login"),
    path("accounts/logout/", views.SignOutView.as_view(), name="logout"),
]
