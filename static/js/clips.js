// Clips: "Clip the last 30 s" in the room, following the new clip until the worker has encoded it;
// on a clip's own page, wait for a clip being prepared, copy its link, confirm its deletion.
import { describe, spaceApi } from "./api.js";
import { confirmForms, copyButtons } from "./controls.js";

const POLL_MS = 600;
const POLL_FOR_MS = 30000;

async function clipOf(path) {
  const response = await fetch(path, { credentials: "same-origin", headers: { Accept: "application/json" } });
  if (!response.ok) throw new Error("The clip could not be found; it may have been deleted.");
  return response.json();
}

/** Ask the API until the clip is no longer pending (or give up after POLL_FOR_MS). */
export async function untilEncoded(path, { fetchClip = clipOf, wait = (ms) => new Promise((r) => setTimeout(r, ms)) } = {}) {
  const deadline = Date.now() + POLL_FOR_MS;
  let clip = await fetchClip(path);
  while (clip.state === "pending" && Date.now() < deadline) {
    await wait(POLL_MS);
    clip = await fetchClip(path);
  }
  return clip;
}

function listClip(clip) {
  const list = document.getElementById("clip-list");
  if (!list) return;
  document.getElementById("clip-none")?.remove();
  const item = document.createElement("li");
  const link = document.createElement("a");
  link.href = new URL(clip.url).pathname;
  link.textContent = `Clip by ${clip.created_by}`;
  const meta = document.createElement("span");
  meta.className = "muted small";
  meta.textContent = ` · ${Math.round(clip.seconds)} s · just now`;
  item.append(link, meta);
  list.prepend(item);
}

function roomButton() {
  const button = document.getElementById("clip-make");
  const room = document.getElementById("room");
  if (!button || !room) return;
  const status = document.getElementById("clip-status");
  const made = document.getElementById("clip-made");
  const api = spaceApi(room.dataset.code);
  button.addEventListener("click", async () => {
    button.disabled = true;
    made.hidden = true;
    status.textContent = "Clipping the last 30 seconds…";
    try {
      const pending = await api("POST", "clips/");
      const clip = await untilEncoded(`/api/clips/${encodeURIComponent(pending.code)}/`);
      if (clip.state === "ready") {
        status.textContent = `Your clip is ready (${Math.round(clip.seconds)} s).`;
        made.href = new URL(clip.url).pathname;
        made.textContent = "Open your clip";
        made.hidden = false;
        listClip(clip);
      } else if (clip.state === "pending") {
        status.textContent = "Your clip is taking longer than usual; it will be listed here when it is ready.";
      } else {
        status.textContent = "That clip could not be made; try again.";
      }
    } catch (error) {
      status.textContent = describe(error);
    } finally {
      button.disabled = false;
    }
  });
}

function clipPage() {
  const card = document.getElementById("clip");
  if (card?.dataset.state === "pending") {
    untilEncoded(card.dataset.api).then((clip) => { if (clip.state !== "pending") location.reload(); }).catch(() => {});
  }
  copyButtons(document.querySelectorAll("#clip [data-copy]"));
  confirmForms(document.querySelectorAll("#clip form[data-confirm]"));
}

if (typeof document !== "undefined") {
  roomButton();
  clipPage();
}
