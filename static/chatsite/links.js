// The Shared links page: copy buttons.
import { copyText, flash } from "./dom.js";
import { initSidebar } from "./sidebar.js";

initSidebar();

for (const button of document.querySelectorAll("[data-copy-from]")) {
  button.addEventListener("click", async () => {
    const field = document.getElementById(button.dataset.copyFrom);
    try {
      await copyText(field.value);
      flash(button, "is-copied");
    } catch {
      field.select();
    }
  });
}
