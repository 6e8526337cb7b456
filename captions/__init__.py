"""Live captions with consent: speech-to-text of a live Space's consenting speakers, shown in the
room and kept with the replay as a WebVTT transcript (docs/CAPTIONS.md)."""
