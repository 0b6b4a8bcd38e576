// Versions of a turn (a regenerated reply, an edited message): the ‹ 2/3 › switcher on a message.
//
// Choosing a version is saved on the server (POST …/messages/<id>/choose/), which answers with the
// conversation from that version on, rendered and sanitised like "load earlier" pages: it takes
// the place of the version shown and of everything after it. The conversation's other pages (tabs,
// live share viewers) get a `version.chosen` frame and fetch the same from their own address.

import { showRenamed } from "./conversation_menu.js";
import { cloneTemplate } from "./dom.js";
import { format, gettext } from "./i18n.js";

/**
 * Show where a message stands among its versions, from a frame's `versions`
 * ({index, count, previous_id, next_id, note}); nothing when it has none.
 */
export function showVersions(element, versions) {
  if (!element || !versions || !Number.isInteger(versions.count) || versions.count < 2) return;
  // Share pages show the conversation, not its versions: they have no switcher to clone.
  if (!document.getElementById("tpl-versions")) return;
  element.querySelector(".versions")?.remove();
  const group = cloneTemplate("tpl-versions");
  group.setAttribute("aria-label", format(gettext("Version %(index)s of %(count)s"), versions));
  group.querySelector(".version-count").textContent = `${versions.index}/${versions.count}`;
  setTarget(group.querySelector(".version-previous"), versions.previous_id);
  setTarget(group.querySelector(".version-next"), versions.next_id);
  element.querySelector(".msg-actions").prepend(group);
  const note = element.querySelector(".version-note");
  if (note) {
    note.textContent = typeof versions.note === "string" ? versions.note : "";
    note.hidden = note.textContent === "";
  }
}

function setTarget(button, id) {
  if (Number.isInteger(id) && id > 0) {
    button.dataset.version = String(id);
    button.disabled = false;
  } else {
    delete button.dataset.version;
    button.disabled = true;
  }
}

/** Show the conversation's title where the page shows it (the top bar, the sidebar's current item). */
function showTitle(title) {
  showRenamed(title);
  const link = document.querySelector('.conv-link[aria-current="page"]');
  if (link) {
    link.querySelector(".conv-link-title").textContent = title;
    link.title = title;
  }
}

function isId(value) {
  return Number.isInteger(value) && value > 0;
}

/**
 * Follow the choices other pages make: a function for `version.chosen` frames ({message_id, replaces}).
 * thread: the page's Thread; messagesUrl(messageId): where this page fetches the messages from that one
 * on ({html, texts, title?}), or null; onTitle(title): the conversation's title changed with the choice.
 * A page that does not show the version replaced (the one that chose, or one with that turn not loaded)
 * changes nothing.
 */
export function followChosenVersions({ thread, messagesUrl, onTitle = () => {}, isChoosing = () => false }) {
  let latest = 0;
  return async (frame) => {
    if (!isId(frame.message_id) || !isId(frame.replaces) || isChoosing(frame.message_id)) return;
    const shown = thread.element(frame.replaces);
    const url = shown ? messagesUrl(frame.message_id) : null;
    if (!url) return;
    const asked = ++latest;
    try {
      const response = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
      if (!response.ok) return;
      const answer = await response.json();
      // A later choice, or this page's own, came first.
      if (asked !== latest || !shown.isConnected) return;
      thread.replaceFrom(shown, answer);
      if (typeof answer.title === "string" && answer.title) onTitle(answer.title);
    } catch {
      // The page shows the choice when it is next loaded.
    }
  };
}

/**
 * list: the #messages element; thread: the page's Thread.
 * chooseUrl(messageId): where choosing that version is posted, or null (no conversation yet).
 * messagesUrl(messageId): where the messages from that one on are fetched, when another page chose it.
 * showError(text): tells the user why a version could not be shown.
 * Returns the handler of `version.chosen` frames.
 */
export function initVersions({ list, thread, chooseUrl, messagesUrl, csrfToken, showError }) {
  let choosing = null;

  list.addEventListener("click", async (event) => {
    const button = event.target instanceof Element ? event.target.closest(".version-btn[data-version]") : null;
    if (!button || choosing !== null) return;
    const shown = button.closest(".msg");
    const url = chooseUrl(Number(button.dataset.version));
    if (!shown || !url) return;
    const direction = button.classList.contains("version-next") ? "next" : "previous";
    choosing = Number(button.dataset.version);
    try {
      const response = await fetch(url, {
        method: "POST",
        credentials: "same-origin",
        headers: { "X-CSRFToken": csrfToken, Accept: "application/json" },
      });
      const answer = await response.json().catch(() => ({}));
      if (!response.ok) {
        showError(typeof answer.error === "string" ? answer.error : gettext("This version could not be shown. Try again."));
        return;
      }
      if (!shown.isConnected) return; // another page's same choice is shown already
      const chosen = thread.replaceFrom(shown, answer);
      if (typeof answer.title === "string" && answer.title) showTitle(answer.title);
      // Keep keyboard users on the switcher they used (the other arrow at either end).
      const group = chosen?.querySelector(".versions");
      const again = group?.querySelector(`.version-${direction}:not([disabled])`) || group?.querySelector(".version-btn:not([disabled])");
      again?.focus();
    } catch {
      showError(gettext("This version could not be shown. Check the connection and try again."));
    } finally {
      choosing = null;
    }
  });

  return followChosenVersions({ thread, messagesUrl, onTitle: showTitle, isChoosing: (id) => id === choosing });
}
