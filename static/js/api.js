// The REST API of one Space, for the page: JSON in and out, the session's CSRF token, and errors
// as ApiError carrying the server's `detail` sentence (or one of ours when the server is unreachable).

export class ApiError extends Error {
  constructor(detail, code, status) {
    super(detail);
    this.detail = detail;
    this.code = code;
    this.status = status;
  }
}

function csrf() {
  return document.cookie.split("; ").find((c) => c.startsWith("csrftoken="))?.split("=")[1] ?? "";
}

export function spaceApi(code) {
  return async function api(method, path, body) {
    let response;
    try {
      response = await fetch(`/api/spaces/${encodeURIComponent(code)}/${path}`, {
        method,
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-CSRFToken": csrf() },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch {
      throw new ApiError("Could not reach Spaces; check your connection and try again.", "network", 0);
    }
    const data = response.status === 204 ? {} : await response.json().catch(() => ({}));
    if (!response.ok) {
      throw new ApiError(data.detail || "That did not work; try again.", data.code || "http_error", response.status);
    }
    return data;
  };
}

/** The sentence to show for any error (an ApiError's detail, or the error's message). */
export function describe(error) {
  return error?.detail || error?.message || String(error);
}
