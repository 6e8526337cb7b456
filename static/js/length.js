// How long something lasted, in words: the one rule for every page script. The server writes the
// same with its `human_length` template filter (rooms/templatetags/lengths.py).

/** "17 seconds", "4 min 5 s", "1 h 5 min": whole seconds; under a minute in words, then two units. */
export function humanLength(totalSeconds) {
  const seconds = Math.max(0, Math.floor(Number(totalSeconds) || 0));
  if (seconds < 60) return `${seconds} second${seconds === 1 ? "" : "s"}`;
  const hours = Math.floor(seconds / 3600);
  const minutes = Math.floor(seconds / 60) % 60;
  if (hours) return minutes ? `${hours} h ${minutes} min` : `${hours} h`;
  const rest = seconds % 60;
  return rest ? `${minutes} min ${rest} s` : `${minutes} min`;
}
