// The conversation's menu: rename inline, share, export, delete.

import { copyText, flash } from "./dom.js";
import { gettext, format, pageLanguage } from "./i18n.js";

async function postForm(form) {
  const response = await fetch(form.action, {
    method: "POST",
    body: new FormData(form),
    credentials: "same-origin",
    headers: { Accept: "application/json" },
  });
  let body = {};
  try {
    body = await response.json();
  } catch {
    // An error page, not JSON.
  }
  if (!response.ok) throw new Error(typeof body.error === "string" ? body.error : `HTTP ${response.status}`);
  return body;
}

function initRename(showError) {
  const title = document.getElementById("conv-title");
  const form = document.getElementById("rename-form");
  const input = document.getElementById("rename-input");
  if (!title || !form) return () => {};
  let saving = false;

  const close = () => {
    form.hidden = true;
    title.hidden = false;
  };
  const open = () => {
    input.value = title.textContent;
    title.hidden = true;
    form.hidden = false;
    input.focus();
    input.select();
  };
  const save = async () => {
    const wanted = input.value.trim();
    if (saving || !wanted || wanted === title.textContent) {
      close();
      return;
    }
    saving = true;
    try {
      const saved = await postForm(form);
      title.textContent = saved.title;
      document.title = `${saved.title} · chatsite`;
      const link = document.querySelector('.conv-link[aria-current="page"]');
      if (link) {
        link.querySelector(".conv-link-title").textContent = saved.title;
        link.title = saved.title;
      }
    } catch (error) {
      showError(format(gettext("The title could not be saved: %(error)s"), { error: error.message }));
    } finally {
      saving = false;
      close();
    }
  };
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    save();
  });
  input.addEventListener("keydown", (event) => {
    if (event.key === "Escape") {
      event.preventDefault();
      event.stopPropagation();
      close();
    }
  });
  input.addEventListener("blur", () => {
    if (!form.hidden) save();
  });
  title.addEventListener("dblclick", open);
  return open;
}

const updatedFormat = new Intl.DateTimeFormat(pageLanguage, { dateStyle: "medium", timeStyle: "short" });

async function postTo(url, token) {
  const response = await fetch(url, {
    method: "POST",
    credentials: "same-origin",
    headers: { "X-CSRFToken": token, Accept: "application/json" },
  });
  if (!response.ok) throw new Error(`HTTP ${response.status}`);
  return response.json();
}

/** The links this conversation already has, each with Copy, Update (a snapshot) and Revoke. */
function linkList(form, onProblem) {
  const section = document.getElementById("share-existing");
  const list = document.getElementById("share-links");
  const template = document.getElementById("tpl-share-link");
  const token = () => form.elements.csrfmiddlewaretoken.value;
  // The links being fetched for the dialog just opened: a link made meanwhile is shown after them.
  let loading = Promise.resolve();

  function row(link) {
    const item = template.content.firstElementChild.cloneNode(true);
    item.dataset.linkId = String(link.id);
    item.querySelector(".share-link-access").textContent = String(link.access_label);
    item.querySelector(".share-link-live").hidden = !link.live;
    const state = item.querySelector(".share-link-state");
    const updated = new Date(link.updated_at);
    if (link.live) state.textContent = gettext("Shows the conversation as it goes on.");
    else if (link.stale) state.textContent = gettext("Newer messages are not in it: Update to add them.");
    else state.textContent = format(gettext("Shows everything up to %(when)s."), { when: updatedFormat.format(updated) });
    const url = item.querySelector(".share-link-url");
    url.value = String(link.url);
    item.querySelector(".share-link-copy").addEventListener("click", async (event) => {
      try {
        await copyText(url.value);
        flash(event.currentTarget, "is-copied");
      } catch {
        url.select();
      }
    });
    const update = item.querySelector(".share-link-update");
    update.hidden = link.live;
    update.addEventListener("click", async () => {
      try {
        item.replaceWith(row(await postTo(link.update_url, token())));
      } catch (problem) {
        onProblem(format(gettext("The link was not updated: %(error)s"), { error: problem.message }));
      }
    });
    item.querySelector(".share-link-revoke").addEventListener("click", async () => {
      try {
        await postTo(link.revoke_url, token());
        item.remove();
        section.hidden = list.childElementCount === 0;
      } catch (problem) {
        onProblem(format(gettext("The link was not revoked: %(error)s"), { error: problem.message }));
      }
    });
    return item;
  }

  async function fetchLinks() {
    list.replaceChildren();
    section.hidden = true;
    try {
      const response = await fetch(form.action, {
        credentials: "same-origin",
        headers: { Accept: "application/json" },
      });
      if (!response.ok) return;
      const { links } = await response.json();
      list.replaceChildren(...(Array.isArray(links) ? links : []).map(row));
    } catch {
      // The dialog still makes links; the list shows at the next opening.
    } finally {
      section.hidden = list.childElementCount === 0;
    }
  }

  return {
    load() {
      loading = fetchLinks();
    },
    async show(link) {
      await loading;
      const shown = [...list.children].find((item) => item.dataset.linkId === String(link.id));
      const fresh = row(link);
      if (shown) shown.replaceWith(fresh);
      else list.prepend(fresh);
      section.hidden = false;
      fresh.querySelector(".share-link-url").focus();
      fresh.querySelector(".share-link-url").select();
    },
  };
}

function initShare() {
  const dialog = document.getElementById("share-dialog");
  if (!dialog) return () => {};
  const form = document.getElementById("share-form");
  const note = document.getElementById("share-note");
  const live = document.getElementById("share-live").querySelector("input");
  const error = document.getElementById("share-error");
  const submit = document.getElementById("share-submit");

  const syncLive = () => {
    const isPublic = form.elements.access.value === "public";
    live.disabled = isPublic;
    if (isPublic) live.checked = false;
  };
  const showProblem = (message) => {
    error.textContent = message;
    error.hidden = false;
  };
  const links = linkList(form, showProblem);
  form.addEventListener("change", syncLive);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.hidden = true;
    note.hidden = true;
    submit.disabled = true;
    try {
      const created = await postForm(form);
      note.textContent = created.reused
        ? gettext("This conversation already has a link like that: here it is, no new one was made.")
        : gettext("Link created.");
      note.hidden = false;
      await links.show(created);
    } catch (problem) {
      error.textContent = problem.message;
      error.hidden = false;
    } finally {
      submit.disabled = false;
    }
  });
  return () => {
    error.hidden = true;
    note.hidden = true;
    syncLive();
    links.load();
    dialog.showModal();
  };
}

/** A rename made elsewhere (the sidebar's item menu) shown in the top bar. */
export function showRenamed(title) {
  const heading = document.getElementById("conv-title");
  if (!heading) return;
  heading.textContent = title;
  document.getElementById("rename-input").value = title;
  document.title = `${title} · chatsite`;
}

export function initConversationMenu({ showError }) {
  const menu = document.getElementById("conv-menu");
  if (!menu) return;
  const actions = {
    rename: initRename(showError),
    share: initShare(),
    delete: () => {
      const dialog = document.getElementById("delete-dialog");
      for (const slot of dialog.querySelectorAll("[data-conv-title]")) {
        slot.textContent = document.getElementById("conv-title").textContent;
      }
      dialog.showModal();
    },
  };
  document.addEventListener("click", (event) => {
    if (menu.open && !menu.contains(event.target)) menu.open = false;
  });
  menu.addEventListener("click", (event) => {
    const item = event.target instanceof Element ? event.target.closest("[data-action]") : null;
    if (!item) return;
    menu.open = false;
    actions[item.dataset.action]?.();
  });
  menu.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && menu.open) {
      event.stopPropagation();
      menu.open = false;
      menu.querySelector("summary").focus();
    }
  });
  for (const button of document.querySelectorAll("[data-dialog-close]")) {
    button.addEventListener("click", () => button.closest("dialog").close());
  }
  // The menu item that opened a dialog is hidden by then: focus goes back to the menu's button.
  for (const id of ["share-dialog", "delete-dialog"]) {
    document.getElementById(id)?.addEventListener("close", () => menu.querySelector("summary").focus());
  }
  // Opened from another page's sidebar ("Share…" on this conversation's item).
  const address = new URL(window.location.href);
  if (address.searchParams.get("share") === "1" && !menu.hidden) {
    address.searchParams.delete("share");
    window.history.replaceState(null, "", address);
    actions.share();
  }
  menu.dataset.ready = "";
}

/** A conversation was just created on this page: give it its title and menu. */
export function showConversationMenu(url, title) {
  for (const element of document.querySelectorAll("[data-path]")) {
    const address = url + element.dataset.path;
    if (element instanceof HTMLFormElement) element.action = address;
    else element.href = address;
  }
  document.getElementById("conv-title").textContent = title;
  document.getElementById("rename-input").value = title;
  document.getElementById("conv-heading").hidden = false;
  document.getElementById("conv-menu").hidden = false;
}
