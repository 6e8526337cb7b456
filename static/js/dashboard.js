// Dashboard: send the browser's time zone with time pickers, copy links, confirm destructive actions.
import { confirmForms, copyButtons } from "./controls.js";

const zone = Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";

for (const input of document.querySelectorAll('input[name$="timezone"]')) input.value = zone;
for (const note of document.querySelectorAll("[data-zone-note]")) note.textContent = `Times are in your time zone (${zone}).`;

// The latest allowed start: 14 days from now, in local time, as the picker's max.
const pad = (n) => String(n).padStart(2, "0");
const local = (d) => `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
for (const picker of document.querySelectorAll('input[type="datetime-local"]')) {
  picker.min = local(new Date());
  picker.max = local(new Date(Date.now() + 14 * 24 * 3600 * 1000));
}

// Share links follow the origin this page is served on, whatever the server was configured with.
for (const button of document.querySelectorAll("[data-copy]")) {
  try {
    button.dataset.copy = new URL(new URL(button.dataset.copy, location.origin).pathname, location.origin).href;
  } catch { /* keep the server's */ }
}
copyButtons(document.querySelectorAll("[data-copy]"));
confirmForms(document.querySelectorAll("form[data-confirm]"));
