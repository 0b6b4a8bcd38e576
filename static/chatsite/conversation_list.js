// The sidebar's conversations: each item's ⋯ menu (rename, pin, share, archive, delete).
import { gettext, format } from "./i18n.js";

const MENU_GAP_PX = 4;

function csrfToken() {
  return document.querySelector("#item-rename-form [name=csrfmiddlewaretoken]")?.value ?? "";
}

async function post(url, fields) {
  const body = new FormData();
  for (const [name, value] of Object.entries(fields)) body.set(name, value);
  const response = await fetch(url, {
    method: "POST",
    body,
    credentials: "same-origin",
    headers: { "X-CSRFToken": csrfToken(), Accept: "application/json" },
  });
  let answer = {};
  try {
    answer = await response.json();
  } catch {
    // An error page, not JSON.
  }
  if (!response.ok) throw new Error(typeof answer.error === "string" ? answer.error : `HTTP ${response.status}`);
  return answer;
}

function currentConversationId() {
  return document.querySelector('#conversation-list .conv-link[aria-current="page"]')?.dataset.conversationId;
}

/** Reload the list from the server (after a pin, an archive or a delete). */
export async function refreshConversationList() {
  const nav = document.getElementById("conversation-list");
  if (!nav) return;
  const url = new URL(nav.dataset.sidebarUrl, window.location.origin);
  const current = currentConversationId() || document.body.dataset.conversationId;
  if (current) url.searchParams.set("current", current);
  const response = await fetch(url, { credentials: "same-origin" });
  // Our own server-rendered, escaped template.
  if (response.ok) nav.innerHTML = await response.text();
}

export function initConversationList({ onRenamed = () => {} } = {}) {
  const nav = document.getElementById("conversation-list");
  const menu = document.getElementById("conv-item-actions");
  if (!nav || !menu) return;
  const renameDialog = document.getElementById("item-rename-dialog");
  const renameForm = document.getElementById("item-rename-form");
  const renameInput = document.getElementById("item-rename-input");
  const renameError = document.getElementById("item-rename-error");
  const deleteDialog = document.getElementById("item-delete-dialog");
  const deleteForm = document.getElementById("item-delete-form");
  let opener = null;
  let target = null; // { id, url, title, pinned }

  const items = () => [...menu.querySelectorAll("[role=menuitem]")];

  function closeMenu(returnFocus) {
    if (menu.hidden) return;
    menu.hidden = true;
    opener?.setAttribute("aria-expanded", "false");
    if (returnFocus) opener?.focus();
  }

  function openMenu(button) {
    const item = button.closest(".conv-item");
    const link = item.querySelector(".conv-link");
    opener = button;
    target = {
      id: link.dataset.conversationId,
      url: link.getAttribute("href"),
      title: link.querySelector(".conv-link-title")?.textContent ?? link.textContent,
      pinned: item.dataset.pinned === "1",
    };
    menu.querySelector("[data-pin-label]").textContent = target.pinned ? gettext("Unpin") : gettext("Pin");
    menu.hidden = false;
    const box = button.getBoundingClientRect();
    const top = Math.min(box.bottom + MENU_GAP_PX, window.innerHeight - menu.offsetHeight - MENU_GAP_PX);
    menu.style.top = `${Math.max(MENU_GAP_PX, top)}px`;
    menu.style.left = `${Math.max(MENU_GAP_PX, box.right - menu.offsetWidth)}px`;
    button.setAttribute("aria-expanded", "true");
    items()[0].focus();
  }

  nav.addEventListener("click", (event) => {
    const button = event.target instanceof Element ? event.target.closest(".conv-item-menu") : null;
    if (!button) return;
    event.preventDefault();
    if (!menu.hidden && opener === button) closeMenu(true);
    else openMenu(button);
  });
  document.addEventListener("click", (event) => {
    if (!menu.hidden && !menu.contains(event.target) && !event.target.closest?.(".conv-item-menu")) {
      closeMenu(false);
    }
  });
  window.addEventListener("resize", () => closeMenu(false));
  nav.addEventListener("scroll", () => closeMenu(false));

  menu.addEventListener("keydown", (event) => {
    const list = items();
    const at = list.indexOf(document.activeElement);
    const moves = {
      ArrowDown: (at + 1) % list.length,
      ArrowUp: (at - 1 + list.length) % list.length,
      Home: 0,
      End: list.length - 1,
    };
    if (event.key in moves) {
      event.preventDefault();
      list[moves[event.key]].focus();
    } else if (event.key === "Escape" || event.key === "Tab") {
      if (event.key === "Escape") event.preventDefault();
      event.stopPropagation();
      closeMenu(event.key === "Escape");
    }
  });

  const actions = {
    rename() {
      renameInput.value = target.title;
      renameError.hidden = true;
      renameDialog.showModal();
      renameInput.select();
    },
    async pin() {
      await post(`${target.url}pin/`, { pinned: target.pinned ? "0" : "1" });
      await refreshConversationList();
    },
    share() {
      if (target.id === currentConversationId() && document.getElementById("share-dialog")) {
        document.querySelector('#conv-menu [data-action="share"]')?.click();
      } else {
        window.location.assign(`${target.url}?share=1`);
      }
    },
    async archive() {
      await post(`${target.url}archive/`, { archived: "1" });
      await refreshConversationList();
    },
    delete() {
      for (const slot of deleteDialog.querySelectorAll("[data-item-title]")) slot.textContent = target.title;
      deleteDialog.showModal();
    },
  };

  menu.addEventListener("click", async (event) => {
    const choice = event.target instanceof Element ? event.target.closest("[data-item-action]") : null;
    if (!choice) return;
    closeMenu(false);
    try {
      await actions[choice.dataset.itemAction]();
    } catch (error) {
      window.alert(format(gettext("That did not work: %(error)s"), { error: error.message }));
    }
  });

  renameForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      const saved = await post(`${target.url}rename/`, { title: renameInput.value });
      for (const link of nav.querySelectorAll(".conv-link")) {
        if (link.dataset.conversationId !== target.id) continue;
        link.querySelector(".conv-link-title").textContent = saved.title;
        link.title = saved.title;
        link.closest(".conv-item").querySelector(".conv-item-menu").ariaLabel = format(gettext("Options for %(title)s"), { title: saved.title });
      }
      if (target.id === currentConversationId()) onRenamed(saved.title);
      renameDialog.close();
    } catch (error) {
      renameError.textContent = error.message;
      renameError.hidden = false;
    }
  });

  deleteForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const wasCurrent = target.id === currentConversationId();
    try {
      await post(`${target.url}delete/`, {});
    } catch (error) {
      window.alert(format(gettext("The conversation was not deleted: %(error)s"), { error: error.message }));
      return;
    }
    deleteDialog.close();
    if (wasCurrent) window.location.assign("/");
    else await refreshConversationList();
  });

  for (const dialog of [renameDialog, deleteDialog]) {
    for (const button of dialog.querySelectorAll("[data-dialog-close]")) {
      button.addEventListener("click", () => dialog.close());
    }
    // Focus goes back to the ⋯ button that opened the dialog, or its row if the list was redrawn.
    dialog.addEventListener("close", () => {
      if (opener?.isConnected) opener.focus();
      else document.getElementById("sidebar-search-input")?.focus();
    });
  }
  nav.dataset.ready = "";
}
