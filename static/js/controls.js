// Small page controls shared by the pages: buttons that copy a link, forms that ask first.

// Each button with data-copy copies that text (or, where the clipboard is refused, shows it).
export function copyButtons(buttons) {
  for (const button of buttons) {
    button.addEventListener("click", async () => {
      try {
        await navigator.clipboard.writeText(button.dataset.copy);
        button.textContent = "Link copied";
      } catch {
        window.prompt("Copy this link", button.dataset.copy);
      }
    });
  }
}

// Each form with data-confirm submits only once the person confirms that sentence.
export function confirmForms(forms) {
  for (const form of forms) {
    form.addEventListener("submit", (event) => {
      if (!window.confirm(form.dataset.confirm)) event.preventDefault();
    });
  }
}
