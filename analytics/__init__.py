"""Host analytics: listeners over time, peak, unique listeners, average listening time,
speakers, reactions, replay and clip plays, per Space, for its host, co-hosts and staff.

Counts only: of a signed-out listener nothing is kept but their share of a number. Reacts to
rooms through ``rooms.signals`` and reads it through its selectors; rooms never imports it."""
