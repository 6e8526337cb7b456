"""``{% space_clips space as clips %}``: the clips a Space's page lists, for the share page's
include (its view knows nothing of clips)."""

from django import template

from ..selectors import clips_ready

register = template.Library()


@register.simple_tag
def space_clips(space, limit: int = 20):
    return list(clips_ready(space=space)[:limit])
