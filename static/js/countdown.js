// The scheduled Space's countdown on the share page, ticking once a second.

/** Count down to `when` (ISO) in `out`; nothing when either is missing. */
export function countdown(when, out) {
  const target = new Date(when).getTime();
  if (!out || Number.isNaN(target)) return;
  const tick = () => {
    let left = Math.max(0, Math.round((target - Date.now()) / 1000));
    const days = Math.floor(left / 86400); left %= 86400;
    const hours = Math.floor(left / 3600); left %= 3600;
    const minutes = Math.floor(left / 60); const seconds = left % 60;
    const pad = (n) => String(n).padStart(2, "0");
    out.textContent = left + days + hours + minutes === 0 && target <= Date.now()
      ? "Starting…"
      : `${days ? `${days}d ` : ""}${pad(hours)}:${pad(minutes)}:${pad(seconds)}`;
  };
  tick();
  setInterval(tick, 1000);
}
