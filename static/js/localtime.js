// Times in the viewer's own time zone: every <time data-local>, and the ISO-8601 times inside
// sentences from the server (errors such as "the latest you can pick now is … UTC (2026-…Z)").
const format = new Intl.DateTimeFormat(undefined, {
  weekday: "short", day: "numeric", month: "short", hour: "2-digit", minute: "2-digit", timeZoneName: "short",
});

const ISO = String.raw`\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})`;
// Django's DATETIME_FORMAT in English ("Nov. 27, 2026, 3:30 p.m."), as the server writes UTC times.
const DJANGO = String.raw`([A-Z][a-z]+)\.? (\d{1,2}), (\d{4}), (midnight|noon|(\d{1,2})(?::(\d{2}))? ([ap])\.m\.)`;
const DJANGO_UTC_ISO = new RegExp(`${DJANGO} UTC \\((${ISO})\\)`, "g");
const DJANGO_UTC = new RegExp(`${DJANGO} UTC`, "g");
const BARE_ISO = new RegExp(ISO, "g");
const MONTHS = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"];

function djangoUtc(month, day, year, clock, hour, minute, half) {
  const m = MONTHS.indexOf(month.slice(0, 3).toLowerCase());
  if (m === -1) return null;
  let h = clock === "midnight" ? 0 : clock === "noon" ? 12 : Number(hour) % 12 + (half === "p" ? 12 : 0);
  if (Number.isNaN(h)) h = 0;
  return new Date(Date.UTC(Number(year), m, Number(day), h, Number(minute || 0))).toISOString();
}

/** A moment as the viewer reads it, in their zone and language (`zone`: another zone, for tests). */
export function localTime(iso, zone) {
  const when = new Date(iso);
  if (Number.isNaN(when.getTime())) return iso;
  if (!zone) return format.format(when);
  return new Intl.DateTimeFormat(undefined, { ...format.resolvedOptions(), timeZone: zone }).format(when);
}

/** A sentence with its UTC and ISO times rewritten in the viewer's zone. */
export function localizeText(text, zone) {
  if (typeof text !== "string") return text;
  return text
    .replace(DJANGO_UTC_ISO, (...m) => localTime(m[8], zone))
    .replace(DJANGO_UTC, (whole, ...m) => {
      const iso = djangoUtc(...m.slice(0, 7));
      return iso ? localTime(iso, zone) : whole;
    })
    .replace(BARE_ISO, (iso) => localTime(iso, zone));
}

export function localize(root = document) {
  for (const el of root.querySelectorAll("time[data-local]")) {
    const when = new Date(el.getAttribute("datetime"));
    if (!Number.isNaN(when.getTime())) el.textContent = format.format(when);
  }
  // Form errors and messages the server rendered.
  for (const el of root.querySelectorAll(".form-error, .errorlist li, .messages li")) {
    const text = localizeText(el.textContent);
    if (text !== el.textContent && el.children.length === 0) el.textContent = text;
    else if (text !== el.textContent) {
      for (const node of el.childNodes) if (node.nodeType === 3) node.textContent = localizeText(node.textContent);
    }
  }
}

if (typeof document !== "undefined") localize();
