// Knowing a reply is ready while looking elsewhere: the tab's title, and a notification if allowed.
import { gettext, format } from "./i18n.js";

const PREFERENCE = "chatsite.notifyWhenReady";
const READY = gettext("Reply ready");
const FAILED = gettext("Reply failed");
const escaped = (text) => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
const MARK = new RegExp(`^\\((?:${escaped(READY)}|${escaped(FAILED)})\\) `);
const NOTIFICATION_TEXT_LENGTH = 140;

function wantsNotifications() {
  return (
    "Notification" in window &&
    Notification.permission === "granted" &&
    window.localStorage.getItem(PREFERENCE) === "1"
  );
}

function clearTitle() {
  document.title = document.title.replace(MARK, "");
}

/**
 * agentName: who replied. Returns `replyEnded(reply)`, for the chat to call with the reply's
 * element when a reply it was showing as running stops running.
 */
export function watchReplies({ agentName }) {
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible") clearTitle();
  });
  return (reply) => {
    if (document.visibilityState === "visible" || !reply) return;
    const failed = ["error", "interrupted"].includes(reply.dataset.status);
    clearTitle();
    document.title = `(${failed ? FAILED : READY}) ${document.title}`;
    if (!wantsNotifications()) return;
    const text = reply.querySelector(".msg-body")?.innerText.trim() ?? "";
    const title = failed ? gettext("%(agent)s: the reply failed") : gettext("%(agent)s replied");
    const notification = new Notification(format(title, { agent: agentName }), {
      body: text.length > NOTIFICATION_TEXT_LENGTH ? `${text.slice(0, NOTIFICATION_TEXT_LENGTH)}…` : text,
      tag: window.location.pathname,
    });
    notification.addEventListener("click", () => {
      window.focus();
      notification.close();
    });
  };
}

/** The user menu's switch for notifications; asking the browser's permission on the first use. */
export function initNotifyToggle() {
  const toggle = document.querySelector("[data-notify-toggle]");
  if (!toggle) return;
  if (!("Notification" in window)) {
    toggle.hidden = true;
    return;
  }
  const label = toggle.querySelector("[data-notify-label]");
  const show = () => {
    const on = wantsNotifications();
    toggle.setAttribute("aria-checked", String(on));
    label.textContent = on ? gettext("Notifying when a reply is ready") : gettext("Notify me when a reply is ready");
    if (Notification.permission === "denied") label.textContent = gettext("Notifications are blocked by the browser");
  };
  toggle.addEventListener("click", async () => {
    if (wantsNotifications()) {
      window.localStorage.removeItem(PREFERENCE);
    } else if ((await Notification.requestPermission()) === "granted") {
      window.localStorage.setItem(PREFERENCE, "1");
    }
    show();
  });
  show();
}
