// The chat page: composer, socket and message list (protocol: docs/websocket.md).

import { choiceChanged, chosenDecisions, showApprovalProblem } from "./approval.js";
import { initConversationMenu, showConversationMenu, showRenamed } from "./conversation_menu.js";
import { ComposerFiles } from "./attachments.js";
import { copyText, enhanceCodeBlocks, flash, localizeTimes } from "./dom.js";
import { initFeedback } from "./feedback.js";
import { initEarlierMessages } from "./history.js";
import { initSidebar, titleFrom, touchConversation } from "./sidebar.js";
import { watchReplies } from "./reply_ready.js";
import { catchUpOnOpen } from "./catch_up.js";
import { ReconnectingSocket } from "./socket.js";
import { Thread } from "./thread.js";
import { initVersions } from "./versions.js";
import { gettext } from "./i18n.js";

// The server refuses frames over 64 KiB; JSON-encoded length in UTF-16 units is never smaller.
const MAX_FRAME_LENGTH = 64 * 1024;
const NEAR_BOTTOM_PX = 96;
const MAX_INPUT_HEIGHT_PX = 240;

const config = JSON.parse(document.getElementById("chat-config").textContent);
const texts = JSON.parse(document.getElementById("message-texts").textContent);

const scroller = document.getElementById("scroller");
const list = document.getElementById("messages");
const intro = document.getElementById("intro");
const jump = document.getElementById("jump");
const connection = document.getElementById("connection");
const errorBox = document.getElementById("composer-error");
const errorText = document.getElementById("composer-error-text");
const form = document.getElementById("composer");
const input = document.getElementById("composer-input");
const sendButton = document.getElementById("send-btn");
const editingBar = document.getElementById("editing");
const attachButton = document.getElementById("attach-btn");
const attachInput = document.getElementById("attach-input");
const dropOverlay = document.getElementById("drop-overlay");

let conversationId = config.conversationId;
let conversationUrl = window.location.pathname;
let socket = null;
let creating = false;
let creation = null;
// Texts and files sent and not yet saved, by client_id: put back in the composer if refused.
const pending = new Map();
// The id of the user message the composer is editing, or null; and of edits sent, by client_id.
let editing = null;
const pendingEdits = new Map();

initSidebar({
  onRenamed: showRenamed,
  shortcuts: {
    focusComposer: input ? () => input.focus() : null,
    copyLastReply: async () => {
      const reply = [...list.querySelectorAll(".msg-assistant")].at(-1);
      const button = reply?.querySelector(".copy-btn");
      if (button) await copyWithFeedback(button, thread.rawText(reply));
    },
  },
});
initConversationMenu({ showError });
localizeTimes(list);
enhanceCodeBlocks(list);
initFeedback(list, {
  csrfToken: config.csrfToken,
  feedbackUrl: (messageId) =>
    conversationId ? `/c/${encodeURIComponent(conversationId)}/messages/${messageId}/feedback/` : null,
});

// Scrolling: follow the newest message while the reader is at the bottom; stop when they scroll
// away. A scroll right after the content changed, with no wheel, touch or key behind it, is the
// layout (content that grew or shrank, the browser's scroll anchoring), not the reader.

let following = true;
let scrollQueued = false;
let lastUserScroll = -Infinity;
let lastContentChange = -Infinity;
const USER_SCROLL_MS = 1000;
const LAYOUT_SCROLL_MS = 250;
const SCROLL_KEYS = new Set(["ArrowUp", "ArrowDown", "PageUp", "PageDown", "Home", "End", " "]);
// What the ↓ button says when something the reader must see arrived below the view.
const NOTICES = { approval: gettext("Approval needed"), error: gettext("Reply failed"), retrying: gettext("Retrying") };
const jumpLabel = document.getElementById("jump-label");

function nearBottom() {
  return scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < NEAR_BOTTOM_PX;
}

function scrollToEnd() {
  scroller.scrollTop = scroller.scrollHeight;
}

function contentChanged(force) {
  lastContentChange = performance.now();
  if (force) following = true;
  intro.hidden = !thread.isEmpty;
  if (!following || scrollQueued) return;
  scrollQueued = true;
  window.requestAnimationFrame(() => {
    scrollQueued = false;
    if (following) scrollToEnd();
  });
}

function showJump(notice) {
  jump.hidden = false;
  jump.dataset.notice = notice || "";
  jumpLabel.textContent = notice ? NOTICES[notice] : "";
  jump.setAttribute("aria-label", notice ? `${NOTICES[notice]}: scroll to it` : "Scroll to the newest message");
}

function hideJump() {
  jump.hidden = true;
  jump.dataset.notice = "";
  jumpLabel.textContent = "";
}

/** An approval request, an error or a retry notice: in view if the reader follows, else announced. */
function noticeArrived(kind) {
  if (following) contentChanged(false);
  else showJump(kind);
}

for (const type of ["wheel", "touchmove"]) {
  scroller.addEventListener(type, () => (lastUserScroll = performance.now()), { passive: true });
}
// On the scroll bar itself (dragging it), not on the messages.
scroller.addEventListener("pointerdown", (event) => {
  if (event.target === scroller) lastUserScroll = performance.now();
});
document.addEventListener("keydown", (event) => {
  const typing = event.target instanceof HTMLTextAreaElement || event.target instanceof HTMLInputElement;
  if (!typing && SCROLL_KEYS.has(event.key)) lastUserScroll = performance.now();
});

scroller.addEventListener(
  "scroll",
  () => {
    const now = performance.now();
    if (nearBottom()) {
      following = true;
      hideJump();
    } else if (following && now - lastUserScroll > USER_SCROLL_MS && now - lastContentChange < LAYOUT_SCROLL_MS) {
      contentChanged(false);
    } else {
      following = false;
      if (jump.hidden) showJump("");
    }
  },
  { passive: true },
);
jump.addEventListener("click", () => {
  following = true;
  hideJump();
  scroller.scrollTo({ top: scroller.scrollHeight, behavior: "smooth" });
});

// The message list.

const thread = new Thread(list, {
  texts,
  send: (frame) => socket?.send(frame),
  onChange: contentChanged,
  onRunning: showRunning,
  onNotice: noticeArrived,
  onUserMessage: (message, clientId, retitled) => {
    pending.delete(clientId);
    pendingEdits.delete(clientId);
    if (!conversationId) return;
    const link = document.querySelector(`.conv-link[data-conversation-id="${CSS.escape(conversationId)}"]`);
    if (retitled && link) {
      // An edited first message gave the conversation its title.
      link.querySelector(".conv-link-title").textContent = retitled;
      link.title = retitled;
      showRenamed(retitled);
    }
    const title = link ? link.textContent : titleFrom(message.text || "");
    if (!link) {
      document.title = `${title} · chatsite`;
      showConversationMenu(conversationUrl, title);
    }
    touchConversation({ id: conversationId, url: conversationUrl, title });
  },
});

/** Where the messages from `messageId` on are fetched (another tab chose a version; the socket opened). */
function messagesUrl(messageId) {
  return conversationId ? `/c/${encodeURIComponent(conversationId)}/messages/?from=${messageId}` : null;
}

initEarlierMessages({ button: document.getElementById("load-earlier"), list, scroller, thread });
thread.onVersionChosen = initVersions({
  list,
  thread,
  csrfToken: config.csrfToken,
  chooseUrl: (messageId) =>
    conversationId ? `/c/${encodeURIComponent(conversationId)}/messages/${messageId}/choose/` : null,
  messagesUrl,
  showError,
});
const catchUp = catchUpOnOpen({ thread, messagesUrl });

const replyEnded = watchReplies({ agentName: config.agentName });
let runningReply = thread.running;

function showRunning(messageId) {
  if (messageId === null && runningReply !== null) replyEnded(thread.element(runningReply));
  runningReply = messageId;
  if (!form) return;
  const running = messageId !== null;
  list.toggleAttribute("data-running", running);
  form.dataset.state = running ? "running" : "idle";
  sendButton.setAttribute("aria-label", running ? gettext("Stop the reply") : gettext("Send message"));
  sendButton.title = running ? gettext("Stop (Esc)") : gettext("Send (Enter)");
  updateSendButton();
}

function updateSendButton() {
  if (!form) return;
  const running = form.dataset.state === "running";
  const empty = input.value.trim() === "" && files.ready.length === 0;
  sendButton.disabled = !running && (creating || files.uploading || empty);
}

list.addEventListener("change", (event) => {
  if (event.target instanceof HTMLInputElement && event.target.closest(".approval-choices")) {
    choiceChanged(event.target);
  }
});

list.addEventListener("click", async (event) => {
  const target = event.target instanceof Element ? event.target : null;
  if (!target) return;
  const copy = target.closest(".copy-btn");
  if (copy) {
    const message = copy.closest(".msg");
    await copyWithFeedback(copy, thread.rawText(message));
    return;
  }
  const codeCopy = target.closest(".code-copy");
  if (codeCopy) {
    const code = codeCopy.closest(".codeblock")?.querySelector("pre");
    if (code) await copyWithFeedback(codeCopy, code.textContent);
    return;
  }
  const decide = target.closest(".approval-send");
  if (decide) {
    const panel = decide.closest(".approval");
    const { decisions, problem } = chosenDecisions(panel);
    if (problem) showApprovalProblem(panel, problem);
    else thread.decide(Number(decide.closest(".msg")?.dataset.messageId), decisions);
    return;
  }
  const choice = target.closest(".caddie-choice");
  if (choice) {
    // A choice in an agent's question is sent as the user's answer, as if typed.
    if (input && form.dataset.state !== "running" && thread.running === null) {
      input.value = choice.dataset.answer || choice.textContent;
      send();
    }
    return;
  }
  const retry = target.closest(".retry-btn, .regenerate-btn");
  if (retry) {
    const id = Number(retry.closest(".msg")?.dataset.messageId);
    if (Number.isInteger(id) && id > 0) {
      hideError();
      thread.retry(id, retry.classList.contains("regenerate-btn") ? "regenerate" : "retry");
    }
    return;
  }
  const edit = target.closest(".edit-btn");
  if (edit) {
    const message = edit.closest(".msg");
    const id = Number(message?.dataset.messageId);
    if (Number.isInteger(id) && id > 0 && input) startEditing(id, thread.rawText(message));
    return;
  }
  const link = target.closest(".md a[href]");
  const external = link && /^https?:$/.test(link.protocol) && link.origin !== window.location.origin;
  if (external && !event.defaultPrevented && !event.ctrlKey && !event.metaKey && !event.shiftKey) {
    // Agents' links open beside the chat rather than replacing it.
    event.preventDefault();
    window.open(link.href, "_blank", "noopener,noreferrer");
  }
});

async function copyWithFeedback(button, text) {
  try {
    await copyText(text);
    flash(button, "is-copied");
  } catch {
    showError(gettext("Copying did not work in this browser. Select the text and copy it instead."));
  }
}

// Errors and connection state, shown above the composer.

function showError(message) {
  errorText.textContent = message;
  errorBox.hidden = false;
}

function hideError() {
  errorBox.hidden = true;
  errorText.textContent = "";
}

document.getElementById("composer-error-close").addEventListener("click", hideError);

let connectionTimer = null;

function showConnection(state, code) {
  window.clearTimeout(connectionTimer);
  connection.dataset.socket = state;
  if (state === "open") {
    connection.hidden = true;
    return;
  }
  const messages = {
    connecting: gettext("Connecting…"),
    reconnecting: gettext("Connection lost. Reconnecting…"),
    closed:
      code === 4401
        ? gettext("You are signed out. Reload the page to sign in again.")
        : gettext("This conversation is no longer available."),
  };
  const show = () => {
    connection.textContent = messages[state] || "";
    connection.dataset.state = state;
    connection.hidden = false;
  };
  // A quick connect shows nothing.
  if (state === "closed") show();
  else connectionTimer = window.setTimeout(show, 800);
}

function onErrorFrame(frame) {
  const clientId = typeof frame.client_id === "string" ? frame.client_id : "";
  const message = typeof frame.message === "string" && frame.message ? frame.message : gettext("The request was refused.");
  if (clientId.startsWith("resume:")) {
    thread.resumeRefused(Number(clientId.slice("resume:".length)));
    return;
  }
  if (clientId.startsWith("decide:") && frame.code === "APPROVAL_CLOSED") {
    thread.approvalClosed(Number(clientId.slice("decide:".length)), message);
    return;
  }
  if (clientId.startsWith("decide:")) {
    const panel = document.getElementById(`m-${Number(clientId.slice("decide:".length))}`)?.querySelector(".msg-main > .approval");
    if (panel) showApprovalProblem(panel, message);
  } else if (clientId.startsWith("retry:")) {
    thread.retryRefused(Number(clientId.slice("retry:".length)));
  } else if (pending.has(clientId)) {
    restore(clientId);
  } else if (!clientId) {
    // Refusals of a whole frame (too large, too many) carry no client_id.
    for (const id of [...pending.keys()]) restore(id);
  }
  showError(message);
}

function startEditing(id, text) {
  editing = id;
  editingBar.hidden = false;
  input.value = text;
  resizeInput();
  updateSendButton();
  input.focus();
}

function stopEditing() {
  editing = null;
  if (editingBar) editingBar.hidden = true;
}

function cancelEditing() {
  stopEditing();
  input.value = "";
  resizeInput();
  updateSendButton();
  input.focus();
}

document.getElementById("editing-cancel")?.addEventListener("click", cancelEditing);

function restore(clientId) {
  const sent = pending.get(clientId);
  const edited = pendingEdits.get(clientId);
  pending.delete(clientId);
  pendingEdits.delete(clientId);
  if (edited !== undefined && editingBar) {
    editing = edited;
    editingBar.hidden = false;
  }
  thread.removePending(clientId);
  if (sent === undefined || !input) return;
  files.restore(sent.files);
  const text = sent.text;
  input.value = input.value.trim() ? `${text}\n\n${input.value}` : text;
  resizeInput();
  updateSendButton();
  input.focus();
}

// The socket.

function openSocket(url) {
  socket = new ReconnectingSocket(url, {
    onFrame: (frame) => (frame.type === "error" ? onErrorFrame(frame) : thread.handle(frame)),
    onOpen: catchUp,
    onStatus: showConnection,
  });
  socket.start();
}

if (conversationId && config.wsPath) openSocket(config.wsPath);

// The composer.

function resizeInput() {
  if (!input || CSS.supports("field-sizing", "content")) return;
  input.style.height = "auto";
  input.style.height = `${Math.min(input.scrollHeight, MAX_INPUT_HEIGHT_PX)}px`;
}

function newClientId() {
  if (window.crypto?.randomUUID) return window.crypto.randomUUID();
  return `c${Date.now().toString(36)}${Math.random().toString(36).slice(2)}`;
}

async function createConversation() {
  const response = await fetch(config.newConversationUrl, {
    method: "POST",
    credentials: "same-origin",
    headers: { "X-CSRFToken": config.csrfToken, Accept: "application/json" },
  });
  if (!response.ok) throw new Error(`HTTP ${response.status}`);
  const created = await response.json();
  conversationId = created.id;
  conversationUrl = created.url;
  window.history.replaceState(null, "", created.url);
  openSocket(created.ws_url);
}

/** The conversation exists (files are uploaded into it before the first message). */
function ensureConversation() {
  if (conversationId) return Promise.resolve();
  if (!creation) {
    creation = createConversation().catch((error) => {
      creation = null;
      throw error;
    });
  }
  return creation;
}

const files = new ComposerFiles(document.getElementById("composer-files") || document.createElement("ul"), {
  files: config.files,
  csrfToken: config.csrfToken,
  uploadUrl: async () => {
    await ensureConversation();
    return `/c/${encodeURIComponent(conversationId)}/attachments/`;
  },
  onChange: () => {
    updateSendButton();
    contentChanged(false);
  },
  onProblem: showError,
});

for (const attachment of config.pendingFiles || []) files.addUploaded(attachment);

async function send() {
  const text = input.value;
  const noFiles = files.ready.length === 0;
  if ((!text.trim() && noFiles) || files.uploading || thread.running !== null || creating) return;
  const clientId = newClientId();
  const timezone = Intl.DateTimeFormat().resolvedOptions().timeZone || "";
  const frame =
    editing === null
      ? { type: "send", text, client_id: clientId, timezone }
      : { type: "edit", message_id: editing, text, client_id: clientId, timezone };
  if (JSON.stringify(frame).length > MAX_FRAME_LENGTH) {
    showError(gettext("This message is too long to send. Shorten it or split it into parts."));
    return;
  }
  hideError();
  // An edit keeps the message's files; files in the composer wait for the next message.
  const sentFiles = editing === null ? files.take() : [];
  if (editing === null) frame.attachments = sentFiles.map((entry) => entry.attachment.id);
  if (editing !== null) pendingEdits.set(clientId, editing);
  stopEditing();
  pending.set(clientId, { text, files: sentFiles });
  thread.addPending(
    clientId,
    text,
    sentFiles.map((entry) => entry.attachment),
  );
  input.value = "";
  resizeInput();
  if (!conversationId) {
    creating = true;
    updateSendButton();
    try {
      await ensureConversation();
    } catch {
      restore(clientId);
      showError(gettext("The conversation could not be started. Check the connection and try again."));
      return;
    } finally {
      creating = false;
      updateSendButton();
    }
  }
  socket.send(frame);
  updateSendButton();
}

function stop() {
  if (thread.running === null) return;
  socket?.send({ type: "stop", message_id: thread.running });
}

function dragHasFiles(event) {
  return [...(event.dataTransfer?.types || [])].includes("Files");
}

if (form && attachButton && !attachButton.hidden) {
  attachButton.addEventListener("click", () => attachInput.click());
  attachInput.addEventListener("change", () => {
    files.add(attachInput.files);
    attachInput.value = "";
  });
  let dragDepth = 0;
  document.addEventListener("dragenter", (event) => {
    if (!dragHasFiles(event)) return;
    dragDepth += 1;
    dropOverlay.hidden = false;
  });
  document.addEventListener("dragleave", (event) => {
    if (!dragHasFiles(event)) return;
    dragDepth = Math.max(0, dragDepth - 1);
    if (dragDepth === 0) dropOverlay.hidden = true;
  });
  document.addEventListener("dragover", (event) => {
    if (dragHasFiles(event)) event.preventDefault();
  });
  document.addEventListener("drop", (event) => {
    if (!dragHasFiles(event)) return;
    event.preventDefault();
    dragDepth = 0;
    dropOverlay.hidden = true;
    files.add(event.dataTransfer.files);
  });
  input.addEventListener("paste", (event) => {
    const pasted = [...(event.clipboardData?.files || [])].filter((file) => file.type.startsWith("image/"));
    if (!pasted.length) return;
    event.preventDefault();
    files.add(pasted);
  });
}

if (form) {
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    if (form.dataset.state === "running") stop();
    else send();
  });
  form.dataset.ready = "";
  input.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      if (form.dataset.state !== "running") send();
    } else if (event.key === "Escape" && thread.running !== null) {
      event.preventDefault();
      stop();
    } else if (event.key === "Escape" && editing !== null) {
      event.preventDefault();
      cancelEditing();
    }
  });
  input.addEventListener("input", () => {
    resizeInput();
    updateSendButton();
  });
  document.addEventListener("keydown", (event) => {
    const sidebarOpen = document.body.classList.contains("sidebar-open");
    if (event.key === "Escape" && !event.defaultPrevented && thread.running !== null && !sidebarOpen) {
      stop();
    }
  });
  showRunning(thread.running);
  resizeInput();
  // On touch screens focusing would open the keyboard over the conversation.
  if (window.matchMedia("(pointer: fine)").matches) input.focus();
}

intro.hidden = !thread.isEmpty;
// A search result links to the message it found (`?message=<id>`), which the page then includes.
// Not a `#m-<id>` fragment: the browser's own jump to it would scroll the whole layout.
const linkedId = new URLSearchParams(window.location.search).get("message");
const linked = /^\d+$/.test(linkedId || "") ? document.getElementById(`m-${linkedId}`) : null;
if (linked) {
  // Only the message list scrolls (scrollIntoView would move the whole layout too).
  scroller.scrollTop += linked.getBoundingClientRect().top - scroller.getBoundingClientRect().top - 16;
  following = nearBottom();
  if (!following) showJump("");
} else {
  scrollToEnd();
}
