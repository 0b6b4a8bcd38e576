// Keyboard shortcuts, listed in the `?` dialog. Ctrl on most systems, ⌘ on a Mac.
import { pgettext } from "./i18n.js";

function typingIn(target) {
  return (
    target instanceof HTMLElement &&
    (target.isContentEditable || target.closest("input, textarea, select, [contenteditable]") !== null)
  );
}

/**
 * focusComposer(), copyLastReply(): what the chat page does for those shortcuts (absent elsewhere).
 */
export function initShortcuts({ focusComposer = null, copyLastReply = null } = {}) {
  const dialog = document.getElementById("shortcuts-dialog");
  if (!dialog) return;
  const isMac = /Mac|iPhone|iPad/.test(navigator.platform);
  for (const key of dialog.querySelectorAll("[data-mod]")) key.textContent = isMac ? "⌘" : pgettext("keyboard key", "Ctrl");
  for (const row of dialog.querySelectorAll("[data-needs]")) {
    row.hidden = !{ composer: focusComposer, copy: copyLastReply }[row.dataset.needs];
  }
  for (const button of dialog.querySelectorAll("[data-dialog-close]")) {
    button.addEventListener("click", () => dialog.close());
  }
  const search = document.getElementById("sidebar-search-input");
  document.querySelector("[data-show-shortcuts]")?.addEventListener("click", () => dialog.showModal());

  document.addEventListener("keydown", (event) => {
    if (event.defaultPrevented || event.isComposing) return;
    const mod = isMac ? event.metaKey : event.ctrlKey;
    if (mod && event.shiftKey && event.code === "KeyO") {
      event.preventDefault();
      window.location.assign("/");
    } else if (mod && !event.shiftKey && event.code === "KeyK") {
      event.preventDefault();
      if (window.matchMedia("(max-width: 768px)").matches) {
        document.querySelector("[data-sidebar-open]")?.click();
      }
      search?.focus();
      search?.select();
    } else if (mod && event.shiftKey && event.code === "Semicolon" && copyLastReply) {
      event.preventDefault();
      copyLastReply();
    } else if (!mod && !event.altKey && !typingIn(event.target) && !dialog.open) {
      if (event.key === "?") {
        event.preventDefault();
        dialog.showModal();
      } else if (event.key === "/" && focusComposer) {
        event.preventDefault();
        focusComposer();
      }
    }
  });
}
