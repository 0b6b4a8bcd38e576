// The sidebar: opening it on small screens, the user menu, and keeping the conversation list current.

import { initAgentPicker } from "./agent_picker.js";
import { initConversationList } from "./conversation_list.js";
import { initLiveSearch } from "./live_search.js";
import { initNotifyToggle } from "./reply_ready.js";
import { initShortcuts } from "./shortcuts.js";
import { gettext, format } from "./i18n.js";

const TITLE_LENGTH = 80;

export function titleFrom(text) {
  const words = text.split(/\s+/).filter(Boolean).join(" ");
  if (words.length <= TITLE_LENGTH) return words || gettext("New conversation");
  const cut = words.slice(0, TITLE_LENGTH - 1);
  const space = cut.lastIndexOf(" ");
  return (space > 0 ? cut.slice(0, space) : cut) + "…";
}

/**
 * onRenamed(title): the current conversation was renamed from its sidebar item.
 * shortcuts: the chat page's own keyboard actions (see shortcuts.js).
 */
export function initSidebar({ onRenamed, shortcuts } = {}) {
  initShortcuts(shortcuts);
  initConversationList({ onRenamed });
  initLiveSearch();
  initAgentPicker();
  initNotifyToggle();
  const sidebar = document.getElementById("sidebar");
  const scrim = document.querySelector(".scrim");
  const openButton = document.querySelector("[data-sidebar-open]");
  if (!sidebar || !openButton) return;

  const setOpen = (open) => {
    document.body.classList.toggle("sidebar-open", open);
    openButton.setAttribute("aria-expanded", String(open));
    if (scrim) scrim.hidden = !open;
    if (open) {
      sidebar.querySelector(".new-chat")?.focus();
    }
  };
  openButton.addEventListener("click", () => setOpen(true));
  for (const closer of document.querySelectorAll("[data-sidebar-close]")) {
    closer.addEventListener("click", () => {
      setOpen(false);
      openButton.focus();
    });
  }
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && document.body.classList.contains("sidebar-open")) {
      setOpen(false);
      openButton.focus();
    }
  });

  const menu = sidebar.querySelector(".user-menu");
  if (menu) {
    document.addEventListener("click", (event) => {
      if (menu.open && !menu.contains(event.target)) menu.open = false;
    });
    menu.addEventListener("keydown", (event) => {
      if (event.key === "Escape" && menu.open) {
        event.stopPropagation();
        menu.open = false;
        menu.querySelector("summary").focus();
      }
    });
  }
}

/** Put the conversation at the top of the list (under "Today") and mark it current. */
export function touchConversation({ id, url, title }) {
  const nav = document.getElementById("conversation-list");
  const template = document.getElementById("tpl-conversation");
  if (!nav) return;
  let link = [...nav.querySelectorAll(".conv-link")].find((a) => a.dataset.conversationId === id);
  let item;
  if (link?.closest(".conv-group")?.dataset.group === "pinned") {
    // A pinned conversation keeps its place.
    markCurrent(nav, link);
    return;
  }
  if (link) {
    item = link.closest("li");
    const group = item.closest(".conv-group");
    item.remove();
    if (group && !group.querySelector("li")) group.remove();
  } else {
    if (!template) return;
    item = template.content.firstElementChild.cloneNode(true);
    link = item.querySelector(".conv-link");
    link.href = url;
    link.dataset.conversationId = id;
    link.querySelector(".conv-link-title").textContent = title;
    link.title = title;
    item.querySelector(".conv-item-menu").ariaLabel = format(gettext("Options for %(title)s"), { title });
  }
  document.getElementById("conv-empty")?.remove();
  let today = nav.querySelector('.conv-group:not([data-group="pinned"])');
  if (!today || today.dataset.group !== "today") {
    today = document.createElement("section");
    today.className = "conv-group";
    today.dataset.group = "today";
    const label = document.createElement("h2");
    label.className = "conv-group-label";
    label.textContent = gettext("Today");
    const list = document.createElement("ol");
    list.className = "conv-items";
    today.append(label, list);
    const pinned = nav.querySelector('.conv-group[data-group="pinned"]');
    if (pinned) pinned.after(today);
    else nav.prepend(today);
  }
  today.querySelector(".conv-items").prepend(item);
  markCurrent(nav, link);
}

function markCurrent(nav, link) {
  for (const other of nav.querySelectorAll(".conv-link[aria-current]")) other.removeAttribute("aria-current");
  link.setAttribute("aria-current", "page");
}
