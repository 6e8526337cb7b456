"""``{% space_transcript space query as transcript %}``: the replay page's transcript, searched,
for the share page's include (its view knows nothing of captions)."""

from django import template

from ..selectors import transcript

register = template.Library()


@register.simple_tag
def space_transcript(space, query="", limit: int = 500):
    query = (query or "")[:100]
    segments = list(transcript(space, query)[:limit])
    total = segments and space.caption_segments.count()
    return {"segments": segments, "query": query, "total": total if query else len(segments)}


@register.filter
def clock(seconds) -> str:
    """Seconds into the Space as ``m:ss`` (``h:mm:ss`` past an hour)."""
    seconds = int(seconds or 0)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"
