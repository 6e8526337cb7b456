// The share link of the page's Space: shown on screen with Copy, and the system's share sheet
// (Web Share API) where the device has one. The link follows the origin the page is served on.

export function shareUrl(code) {
  return new URL(`/s/${encodeURIComponent(code)}/`, window.location.origin).href;
}

/** Copy a link; returns the sentence to show. */
export async function copy(url) {
  try {
    await navigator.clipboard.writeText(url);
    return "Link copied.";
  } catch {
    window.prompt("Copy this link", url);
    return "Copy the link from the box.";
  }
}

/** The system's share sheet, or copying where there is none. Returns a sentence, or null. */
export async function share(url, title) {
  if (navigator.share) {
    try {
      await navigator.share({ title, url });
      return null;
    } catch (error) {
      if (error?.name === "AbortError") return null;
    }
  }
  return copy(url);
}

/** Wire the page's share controls: the link box, Copy, Share… and the older [data-share] buttons. */
export function wireShare({ code, title, tell }) {
  const url = shareUrl(code);
  const box = document.getElementById("share-link");
  if (box) {
    box.value = url;
    box.addEventListener("focus", () => box.select());
  }
  document.getElementById("copy-link")?.addEventListener("click", async () => tell(await copy(url)));
  const native = document.getElementById("share-native");
  if (native && navigator.share) {
    native.hidden = false;
    native.addEventListener("click", async () => {
      const said = await share(url, title);
      if (said) tell(said);
    });
  }
  for (const button of document.querySelectorAll("[data-share]")) {
    button.addEventListener("click", async () => {
      const said = await share(url, title);
      if (said) tell(said);
    });
  }
  return url;
}
