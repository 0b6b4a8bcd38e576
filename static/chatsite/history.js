// Older messages, a page at a time: they load when the "Load earlier messages" button
// scrolls into view, or when it is pressed (keyboard users). The server renders and
// sanitises the HTML (same template as the page), so it is inserted as HTML.

import { serverMessages } from "./dom.js";
import { gettext } from "./i18n.js";

const MARGIN = "400px 0px 0px 0px";

/**
 * button: the #load-earlier element (its data-url is the next page's address), or null.
 * list: the #messages element; scroller: the element that scrolls it.
 * thread: the page's Thread, which takes on the loaded messages.
 * startsAtTop: the page opens scrolled to its top (a share page), not to its newest message.
 */
export function initEarlierMessages({ button, list, scroller, thread, startsAtTop = false }) {
  if (!button) return;
  let loading = false;

  async function load() {
    if (loading || !button.dataset.url) return;
    loading = true;
    button.disabled = true;
    button.textContent = gettext("Loading earlier messages…");
    try {
      const response = await fetch(button.dataset.url, {
        headers: { Accept: "application/json" },
        credentials: "same-origin",
      });
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      const page = await response.json();
      const fragment = serverMessages(page.html);
      thread.adopt(fragment, page.texts);
      // Keep what the reader is looking at in place while the page grows above it.
      const fromBottom = scroller.scrollHeight - scroller.scrollTop;
      list.prepend(fragment);
      scroller.scrollTop = scroller.scrollHeight - fromBottom;
      if (page.earlier_url) {
        button.dataset.url = page.earlier_url;
        button.textContent = gettext("Load earlier messages");
        button.disabled = false;
        // Observing again reports whether the button is still in view (a short page): then the next loads too.
        observer?.unobserve(button);
        observer?.observe(button);
      } else {
        observer?.disconnect();
        button.remove();
      }
    } catch {
      button.textContent = gettext("Earlier messages could not be loaded. Try again");
      button.disabled = false;
    } finally {
      loading = false;
    }
  }

  button.addEventListener("click", load);
  const observer =
    "IntersectionObserver" in window
      ? new IntersectionObserver(
          (entries) => {
            if (entries.some((entry) => entry.isIntersecting)) load();
          },
          { root: scroller, rootMargin: MARGIN },
        )
      : null;
  if (!observer) return;
  if (startsAtTop) {
    // A page that opens at the top shows the button at once: load only once the reader scrolls.
    scroller.addEventListener("scroll", () => observer.observe(button), { once: true, passive: true });
  } else {
    // Observed once the page has scrolled to its end, so opening it does not load a page at once.
    window.requestAnimationFrame(() => window.requestAnimationFrame(() => observer.observe(button)));
  }
}
