// A shared conversation: copy buttons, and for a live link the conversation as it streams (read-only).

import { copyText, enhanceCodeBlocks, flash, localizeTimes } from "./dom.js";
import { initEarlierMessages } from "./history.js";
import { catchUpOnOpen } from "./catch_up.js";
import { ReconnectingSocket } from "./socket.js";
import { Thread } from "./thread.js";
import { followChosenVersions } from "./versions.js";
import { gettext } from "./i18n.js";

const config = JSON.parse(document.getElementById("share-config").textContent);
const texts = JSON.parse(document.getElementById("message-texts").textContent);
const scroller = document.getElementById("scroller");
const list = document.getElementById("messages");
const liveStatus = document.getElementById("live-status");

localizeTimes(document.body);
enhanceCodeBlocks(list);

// The page opens at the top; a new message scrolls to it, and the view follows it unless the reader scrolls up.
let following = false;
scroller.addEventListener(
  "scroll",
  () => {
    following = scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < 96;
  },
  { passive: true },
);

let socket = null;
const thread = new Thread(list, {
  texts,
  send: (frame) => socket?.send(frame),
  onChange: (force) => {
    if (force) following = true;
    if (following) window.requestAnimationFrame(() => (scroller.scrollTop = scroller.scrollHeight));
  },
  onRunning: () => {},
  onUserMessage: () => {},
  readOnly: true,
});
const messagesUrl = (messageId) => (config.messagesUrl ? `${config.messagesUrl}?from=${messageId}` : null);
thread.onVersionChosen = followChosenVersions({ thread, messagesUrl });

initEarlierMessages({
  button: document.getElementById("load-earlier"),
  list,
  scroller,
  thread,
  startsAtTop: true,
});

list.addEventListener("click", async (event) => {
  const target = event.target instanceof Element ? event.target : null;
  const button = target?.closest(".copy-btn, .code-copy");
  if (!button) return;
  const text = button.classList.contains("code-copy")
    ? button.closest(".codeblock")?.querySelector("pre")?.textContent || ""
    : thread.rawText(button.closest(".msg"));
  try {
    await copyText(text);
    flash(button, "is-copied");
  } catch {
    // Nothing to tell: the text can still be selected by hand.
  }
});

function showStatus(state) {
  if (!liveStatus) return;
  liveStatus.dataset.state = state;
  const labels = {
    open: gettext("Live"),
    connecting: gettext("Connecting…"),
    reconnecting: gettext("Reconnecting…"),
    closed: gettext("No longer live"),
  };
  liveStatus.lastChild.textContent = labels[state] || gettext("Live");
}

if (config.wsPath) {
  socket = new ReconnectingSocket(config.wsPath, {
    onFrame: (frame) => {
      if (frame.type !== "error") thread.handle(frame);
      else if (typeof frame.client_id === "string" && frame.client_id.startsWith("resume:")) {
        thread.resumeRefused(Number(frame.client_id.slice("resume:".length)));
      }
    },
    onOpen: catchUpOnOpen({ thread, messagesUrl }),
    onStatus: showStatus,
  });
  socket.start();
}
