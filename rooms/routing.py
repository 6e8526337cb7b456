from django.urls import path

from . import consumers

websocket_urlpatterns = [
    path("ws/spaces/<str:code>/", consumers.SpaceConsumer.as_asgi()),
]
