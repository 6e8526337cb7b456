"""Clips: the last 30 seconds of a live, recorded Space, with a share link of their own.

Reacts to rooms through ``rooms.signals`` and reads it through its selectors; rooms never
imports this app."""
