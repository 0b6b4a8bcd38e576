// Searching from the sidebar as one types: results replace the list until the box is emptied.
//
// Titles and snippets arrive as [text, isMatch] pieces and are built from text nodes and <mark>s only.
import { gettext, ngettext, format } from "./i18n.js";

const DEBOUNCE_MS = 250;

function markedText(element, pieces) {
  element.replaceChildren();
  for (const piece of Array.isArray(pieces) ? pieces : []) {
    if (!Array.isArray(piece) || typeof piece[0] !== "string") continue;
    if (piece[1]) {
      const mark = document.createElement("mark");
      mark.textContent = piece[0];
      element.append(mark);
    } else {
      element.append(piece[0]);
    }
  }
}

function resultItem(result) {
  const item = document.createElement("li");
  const link = document.createElement("a");
  link.className = "search-hit";
  link.href = typeof result.url === "string" && result.url.startsWith("/") ? result.url : "#";
  const title = document.createElement("span");
  title.className = "search-hit-title";
  markedText(title, result.title);
  const meta = document.createElement("span");
  meta.className = "search-hit-meta";
  meta.textContent = [result.agent, result.archived ? gettext("Archived") : ""].filter(Boolean).join(" · ");
  link.append(title, meta);
  if (Array.isArray(result.snippet) && result.snippet.length) {
    const snippet = document.createElement("span");
    snippet.className = "search-hit-snippet";
    markedText(snippet, result.snippet);
    link.append(snippet);
  }
  item.append(link);
  return item;
}

export function initLiveSearch() {
  const form = document.querySelector(".sidebar-search");
  const input = document.getElementById("sidebar-search-input");
  const panel = document.getElementById("search-results");
  const list = document.getElementById("search-results-list");
  const status = document.getElementById("search-status");
  const nav = document.getElementById("conversation-list");
  if (!form || !input || !panel) return;
  let timer = null;
  let running = null;

  function showList() {
    running?.abort();
    panel.hidden = true;
    nav.hidden = false;
    list.replaceChildren();
  }

  async function search(query) {
    running?.abort();
    running = new AbortController();
    const url = new URL(form.action, window.location.origin);
    url.searchParams.set("q", query);
    let answer;
    try {
      const response = await fetch(url, {
        credentials: "same-origin",
        headers: { Accept: "application/json" },
        signal: running.signal,
      });
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      answer = await response.json();
    } catch (error) {
      if (error.name === "AbortError") return;
      status.textContent = gettext("Search did not work. Press Enter to search on a page.");
      return;
    }
    if (input.value.trim() !== query) return;
    const results = Array.isArray(answer.results) ? answer.results : [];
    list.replaceChildren(...results.map(resultItem));
    status.textContent = results.length
      ? format(ngettext("%(count)s conversation matches", "%(count)s conversations match", results.length), {
          count: results.length,
        })
      : format(gettext("No conversation matches “%(query)s”."), { query });
  }

  input.addEventListener("input", () => {
    window.clearTimeout(timer);
    const query = input.value.trim();
    if (!query) {
      showList();
      return;
    }
    panel.hidden = false;
    nav.hidden = true;
    timer = window.setTimeout(() => search(query), DEBOUNCE_MS);
  });
  input.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && input.value) {
      event.preventDefault();
      event.stopPropagation();
      input.value = "";
      showList();
    } else if (event.key === "ArrowDown" && !panel.hidden) {
      event.preventDefault();
      list.querySelector("a")?.focus();
    }
  });
}
