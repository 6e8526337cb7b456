// The end screen, drawn live from frames (length, peak audience, the replay and until when it is
// kept), the same as the server renders it on a reload (templates/rooms/share.html), and the
// host's "Delete the replay".
import { localTime } from "./localtime.js";
import { el } from "./render.js";
import { overSummary } from "./views.js";

const $ = (id) => document.getElementById(id);

/** Bring the end screen in line with `state` (nothing while the Space is scheduled or live). */
export function renderOver(root, state) {
  if (state.removed) {
    $("over-summary").textContent = "The host removed you. The Space goes on without you.";
    $("replay").replaceChildren();
    return;
  }
  if (!state.space || ["live", "scheduled"].includes(state.space.state)) return;
  const summary = overSummary(state.space);
  if (summary) $("over-summary").textContent = summary;
  const replay = $("replay");
  const url = state.space.replay_url;
  const drawn = `${url || ""} ${state.space.replay_expires_at || ""}`;
  if (replay.dataset.drawn === drawn) return;
  replay.dataset.drawn = drawn;
  if (url) {
    const until = state.space.replay_expires_at;
    replay.replaceChildren(
      el("h3", {}, "Replay"),
      // Played through the Space's replay link, which counts the play (host analytics).
      el("audio", { class: "replay", controls: "", preload: "none", src: `/s/${state.space.code}/replay/` }),
      el("p", { class: "muted small" },
        ...(until ? ["Kept until ", el("time", { datetime: until, "data-local": "" }, localTime(until)), ". "] : []),
        el("a", { href: url, download: "", id: "replay-download" }, "Download the replay")),
      // (replaceChildren would write a null out as the text "null": only the host gets the button.)
      ...(root.dataset.host === "1" ? [el("button", { type: "button", class: "secondary small", id: "delete-replay" }, "Delete the replay")] : []),
    );
  } else if (state.space.record && state.space.state === "ended") {
    replay.replaceChildren(el("p", { class: "muted small" }, "The replay is being prepared; it appears here by itself."));
  }
}

/** The delete button may come later than the page: one listener for all. `attempt` shows errors. */
export function wireReplayDelete(api, attempt) {
  document.addEventListener("click", (event) => {
    if (event.target?.id !== "delete-replay" || !window.confirm("Delete the replay for good?")) return;
    attempt(async () => {
      await api("DELETE", "replay/");
      window.location.reload();
    });
  });
}
