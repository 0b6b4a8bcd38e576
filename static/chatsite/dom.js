// Small DOM helpers shared by the chat modules.
import { pageLanguage } from "./i18n.js";

export function cloneTemplate(id) {
  return document.getElementById(id).content.firstElementChild.cloneNode(true);
}

/**
 * Server-rendered HTML as a fragment. Only for `html` fields of websocket frames,
 * which the site's Markdown renderer has sanitised with an allow-list.
 */
export function sanitizedFragment(html) {
  const template = document.createElement("template");
  template.innerHTML = typeof html === "string" ? html : "";
  enhanceCodeBlocks(template.content);
  return template.content;
}

/** Messages rendered by the server (history pages, a conversation from a message on), ready to insert. */
export function serverMessages(html) {
  const fragment = sanitizedFragment(html);
  localizeTimes(fragment);
  return fragment;
}

/** Add a copy button to each code block's header. */
export function enhanceCodeBlocks(root) {
  const button = document.getElementById("tpl-code-copy");
  if (!button) return;
  for (const head of root.querySelectorAll(".codeblock-head")) {
    if (!head.querySelector(".code-copy")) head.append(cloneTemplate("tpl-code-copy"));
  }
}

export async function copyText(text) {
  if (navigator.clipboard && window.isSecureContext) {
    await navigator.clipboard.writeText(text);
    return;
  }
  // Plain-http hosts have no Clipboard API.
  const area = document.createElement("textarea");
  area.value = text;
  area.setAttribute("readonly", "");
  area.className = "offscreen";
  document.body.append(area);
  area.select();
  try {
    if (!document.execCommand("copy")) throw new Error("copy refused");
  } finally {
    area.remove();
  }
}

export function flash(element, className, ms = 1500) {
  element.classList.add(className);
  window.setTimeout(() => element.classList.remove(className), ms);
}

const timeFormat = new Intl.DateTimeFormat(pageLanguage, { hour: "numeric", minute: "2-digit" });
const fullFormat = new Intl.DateTimeFormat(pageLanguage, { dateStyle: "medium", timeStyle: "short" });

export function setTime(element, date) {
  element.dateTime = date.toISOString();
  element.textContent = timeFormat.format(date);
  element.title = fullFormat.format(date);
}

/** Show server timestamps (UTC) in the reader's time zone. */
export function localizeTimes(root) {
  for (const element of root.querySelectorAll("time[datetime]")) {
    const date = new Date(element.getAttribute("datetime"));
    if (!Number.isNaN(date.getTime())) setTime(element, date);
  }
}
