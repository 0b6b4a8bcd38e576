// The message list: applies the server's frames (docs/websocket.md) to the DOM.
//
// `html` and `live` fields are produced and sanitised by the server and are inserted as HTML;
// `text`, `tail`, names, errors and everything else only ever as text.

import { renderApproval } from "./approval.js";
import { renderAttachments } from "./attachments.js";
import { cloneTemplate, sanitizedFragment, serverMessages, setTime } from "./dom.js";
import { showVersions } from "./versions.js";
import { gettext, format } from "./i18n.js";

// The current part's rendered blocks, and the panel of the request for decisions that follows them.
const BODY = ".msg-body > .md";
const TRAILING_APPROVAL = ".msg-main > .approval";

const DEFAULT_ERRORS = {
  error: gettext("The reply failed."),
  interrupted: gettext("The reply was interrupted."),
};
// Endings the site decided, by `error_code` (conversations/protocol.py REPLY_ERRORS): in the page's language.
const REPLY_ERRORS = new Map([["CUT_OFF", gettext("The reply was cut off when the site restarted.")]]);

function setUserContent(element, text, attachments) {
  const bubble = element.querySelector(".bubble");
  bubble.textContent = text;
  const list = element.querySelector(".attachments");
  renderAttachments(list, attachments);
  bubble.hidden = !text && !list.hidden;
}

function isId(value) {
  return Number.isInteger(value) && value > 0;
}

export class Thread {
  /**
   * list: the #messages element.
   * texts: raw Markdown of the messages rendered by the server, by id.
   * send(frame): sends a frame on the socket.
   * onChange(): the content grew or changed (for scrolling).
   * onRunning(messageId | null): a reply started or ended.
   * onUserMessage(message, clientId, title): a user message was saved (`title`: the conversation's new one).
   * onNotice(kind, element): something the reader must see came: "approval", "error" or "retrying".
   * onVersionChosen(frame): another version of a turn was chosen (versions.js `followChosenVersions`).
   * readOnly: a shared page, which shows requests for decisions without controls.
   */
  constructor(
    list,
    { texts, send, onChange, onRunning, onUserMessage, onNotice = () => {}, onVersionChosen = () => {}, readOnly = false },
  ) {
    this.list = list;
    this.onVersionChosen = onVersionChosen;
    this.readOnly = readOnly;
    this.onNotice = onNotice;
    this.send = send;
    this.onChange = onChange;
    this.onRunning = onRunning;
    this.onUserMessage = onUserMessage;
    this.texts = new Map(Object.entries(texts || {}));
    this.seqs = new Map();
    // Raw text of replies streamed in this page, or null once a replace made it unknown.
    this.streamed = new Map();
    this.resumeAsked = new Set();
    // The request for decisions each reply shows, by element id.
    this.approvals = new Map();
    this.running = null;
    this.adopt(list, {});
    list.addEventListener("click", (event) => {
      const button = event.target instanceof Element ? event.target.closest(".tool-show-all") : null;
      if (button) toggleFold(button);
    });
  }

  /** Take on server-rendered messages under `root` (the page's own, or an earlier page loaded later). */
  adopt(root, texts) {
    for (const [id, text] of Object.entries(texts || {})) this.texts.set(id, text);
    // A snapshot share page's messages have no ids: they follow no stream but show their decisions.
    for (const element of root.querySelectorAll(".msg-assistant")) {
      if (element.dataset.messageId) {
        const id = Number(element.dataset.messageId);
        this.seqs.set(id, Number(element.dataset.seq) || 0);
        if (element.dataset.status === "streaming") this.running = id;
      }
      for (const panel of element.querySelectorAll(".msg-parts > .approval[data-approval]")) {
        renderApproval(panel, JSON.parse(panel.dataset.approval), element.dataset.messageId, { readOnly: this.readOnly });
      }
      const panel = element.querySelector(TRAILING_APPROVAL + "[data-approval]");
      if (panel) this.setApproval(element, JSON.parse(panel.dataset.approval));
      for (const block of element.querySelectorAll(".tool-arguments, .tool-result")) foldIfLong(block);
    }
  }

  handle(frame) {
    switch (frame.type) {
      case "user_message":
        return this.userMessage(frame);
      case "reply.started":
        return this.replyStarted(frame);
      case "reply.snapshot":
        return this.replySnapshot(frame);
      case "reply.ended":
        return this.replyEnded(frame);
      case "version.chosen":
        return this.onVersionChosen(frame);
      case "text_delta":
      case "text_live":
      case "text_replace":
      case "tool_started":
      case "tool_finished":
      case "activity":
      case "retrying":
      case "approval_requested":
        return this.replyEvent(frame);
      default:
        // Frame types this page does not know are dropped.
        return undefined;
    }
  }

  // Elements.

  element(id) {
    return document.getElementById(`m-${id}`);
  }

  get isEmpty() {
    return this.list.querySelector(".msg") === null;
  }

  createReply(id) {
    const element = cloneTemplate("tpl-assistant");
    element.id = `m-${id}`;
    element.dataset.messageId = String(id);
    setStatus(element, "streaming");
    element.dataset.seq = "0";
    setTime(element.querySelector(".msg-time"), new Date());
    return element;
  }

  ensureReply(id) {
    let element = this.element(id);
    if (!element) {
      element = this.createReply(id);
      this.list.append(element);
    }
    return element;
  }

  createUser(text, attachments) {
    const element = cloneTemplate("tpl-user");
    setUserContent(element, text, attachments);
    setTime(element.querySelector(".msg-time"), new Date());
    return element;
  }

  /** The user's message, shown at once; `userMessage` confirms it. */
  addPending(clientId, text, attachments = []) {
    const element = this.createUser(text, attachments);
    element.dataset.clientId = clientId;
    element.classList.add("is-pending");
    this.list.append(element);
    this.onChange(true);
  }

  removePending(clientId) {
    this.pendingElement(clientId)?.remove();
    this.onChange(false);
  }

  pendingElement(clientId) {
    return [...this.list.querySelectorAll(".msg-user[data-client-id]")].find(
      (element) => element.dataset.clientId === clientId,
    );
  }

  streamingIds() {
    return [...this.list.querySelectorAll('.msg-assistant[data-status="streaming"]')]
      .map((element) => Number(element.dataset.messageId))
      .filter(isId);
  }

  rawText(element) {
    const id = element.dataset.messageId;
    if (id && this.texts.has(id)) return this.texts.get(id);
    if (element.classList.contains("msg-user")) return element.querySelector(".bubble").textContent;
    return element.querySelector(".msg-body").innerText;
  }

  setRunning(id) {
    if (this.running === id) return;
    this.running = id;
    this.onRunning(id);
  }

  // Frames.

  userMessage(frame) {
    const message = frame.message;
    if (!message || !isId(message.id)) return;
    const text = typeof message.text === "string" ? message.text : "";
    this.texts.set(String(message.id), text);
    if (this.element(message.id)) {
      // Shown already, from what the page fetched when its socket opened: the optimistic copy goes.
      const optimistic = frame.client_id ? this.pendingElement(frame.client_id) : undefined;
      if (optimistic) {
        optimistic.remove();
        this.onUserMessage(message, frame.client_id, frame.title);
        this.onChange(false);
      }
      return;
    }
    let element = frame.client_id ? this.pendingElement(frame.client_id) : undefined;
    if (element) {
      element.classList.remove("is-pending");
      delete element.dataset.clientId;
      setUserContent(element, text, message.attachments);
    } else {
      element = this.createUser(text, message.attachments);
      this.list.append(element);
    }
    element.id = `m-${message.id}`;
    element.dataset.messageId = String(message.id);
    showVersions(element, message.versions);
    this.closePendingApprovals();
    // An edited message takes the place of the one it replaces.
    const replaced = isId(frame.replaces) ? this.element(frame.replaces) : null;
    if (replaced && replaced !== element) {
      replaced.replaceWith(element);
      this.forget(frame.replaces);
    }
    this.onUserMessage(message, frame.client_id, frame.title);
    this.onChange(false);
  }

  replyStarted(frame) {
    const id = frame.message_id;
    if (!isId(id) || this.seqs.has(id)) return;
    const element = this.createReply(id);
    showVersions(element, frame.versions);
    const replaced = isId(frame.replaces) ? this.element(frame.replaces) : null;
    if (replaced) {
      replaced.replaceWith(element);
      this.forget(frame.replaces);
    } else {
      this.list.append(element);
    }
    this.seqs.set(id, 0);
    this.streamed.set(id, []);
    this.setRunning(id);
    this.onChange(true);
  }

  replySnapshot(frame) {
    const id = frame.message_id;
    if (!isId(id)) return;
    this.resumeAsked.delete(id);
    if (!(frame.seq > (this.seqs.get(id) ?? -1))) return;
    this.seqs.set(id, frame.seq);
    const element = this.ensureReply(id);
    element.dataset.seq = String(frame.seq);
    this.setParts(element, frame.parts);
    this.setBody(element, frame.html, frame.live);
    this.setTools(element, frame.tool_calls);
    this.setApproval(element, frame.approval);
    this.streamed.set(id, typeof frame.text === "string" ? [frame.text] : null);
    const status = typeof frame.status === "string" ? frame.status : "streaming";
    setStatus(element, status);
    if (status === "streaming") this.setRunning(id);
    this.onChange(false);
  }

  replyEnded(frame) {
    const id = frame.message_id;
    if (!isId(id)) return;
    this.resumeAsked.delete(id);
    const element = this.element(id);
    // A final state is applied even when its seq is not newer, if this page still shows it running.
    const stillRunning = element?.dataset.status === "streaming";
    if (!(frame.seq > (this.seqs.get(id) ?? -1)) && !stillRunning) return;
    this.seqs.set(id, Math.max(frame.seq || 0, this.seqs.get(id) ?? 0));
    const reply = element || this.ensureReply(id);
    const status = typeof frame.status === "string" ? frame.status : "complete";
    this.setParts(reply, frame.parts);
    this.setBody(reply, frame.html, "");
    this.setTools(reply, frame.tool_calls);
    this.setApproval(reply, frame.approval);
    this.setActivity(reply, "");
    const usage = reply.querySelector(".msg-usage");
    if (usage) {
      usage.textContent = typeof frame.usage_text === "string" ? frame.usage_text : "";
      usage.hidden = usage.textContent === "";
    }
    reply.querySelector(".msg-error-text").textContent =
      REPLY_ERRORS.get(frame.error_code) || (typeof frame.error === "string" && frame.error) || DEFAULT_ERRORS[status] || "";
    setStatus(reply, status);
    reply.dataset.seq = String(this.seqs.get(id));
    delete reply.dataset.retrying;
    const parts = this.streamed.get(id);
    if (typeof frame.text === "string") this.texts.set(String(id), frame.text);
    else if (parts) this.texts.set(String(id), parts.join(""));
    this.streamed.delete(id);
    if (this.running === id) this.setRunning(null);
    this.onChange(false);
    if (status === "error" || status === "interrupted") this.onNotice("error", reply);
    else if (frame.approval?.status === "pending" && !this.readOnly) this.onNotice("approval", reply);
  }

  replyEvent(frame) {
    const id = frame.message_id;
    if (!isId(id) || !Number.isInteger(frame.seq)) return;
    const last = this.seqs.get(id);
    if (last !== undefined && frame.seq <= last) return;
    if (last === undefined || frame.seq !== last + 1) {
      // Events were missed: ask for the whole state and wait for it.
      this.askResume(id, last ?? 0);
      return;
    }
    this.seqs.set(id, frame.seq);
    const element = this.ensureReply(id);
    element.dataset.seq = String(frame.seq);
    switch (frame.type) {
      case "text_delta":
        this.textDelta(element, id, frame);
        break;
      case "text_live":
        this.setLive(element, frame.html);
        break;
      case "text_replace":
        this.setBody(element, frame.html, frame.live);
        this.streamed.set(id, null);
        break;
      case "tool_started":
        this.toolStarted(element, frame);
        break;
      case "tool_finished":
        this.toolFinished(element, frame);
        break;
      case "activity":
        this.setActivity(element, typeof frame.text === "string" ? frame.text : "");
        break;
      case "retrying":
        this.setActivity(element, retryingText(frame));
        break;
      case "approval_requested":
        this.setApproval(element, { request_id: frame.request_id, actions: frame.actions, status: "pending" });
        break;
    }
    this.onChange(false);
    if (frame.type === "retrying") this.onNotice("retrying", element);
    else if (frame.type === "approval_requested" && !this.readOnly) this.onNotice("approval", element);
  }

  textDelta(element, id, frame) {
    const text = typeof frame.text === "string" ? frame.text : "";
    this.streamed.get(id)?.push(text);
    this.setActivity(element, "");
    // Finished blocks join the rendered part and the open block shows as last rendered, in one
    // step: a block's final rendering takes the place of its live one without a frame in between.
    const commit = frame.commit;
    if (commit && typeof commit === "object") {
      element.querySelector(BODY).append(sanitizedFragment(commit.html));
      this.setLive(element, typeof frame.live === "string" ? frame.live : "");
    } else if (typeof frame.live === "string") {
      this.setLive(element, frame.live);
    }
  }

  askResume(id, afterSeq) {
    if (this.resumeAsked.has(id)) return;
    this.resumeAsked.add(id);
    this.send({ type: "resume", message_id: id, after_seq: afterSeq, client_id: `resume:${id}` });
  }

  /** Every message shown with an id, newest last. */
  shownIds() {
    return [...this.list.querySelectorAll(".msg[data-message-id]")]
      .map((element) => Number(element.dataset.messageId))
      .filter(isId);
  }

  /**
   * Put the server's messages from `shown` on (`answer`: {html, texts}, rendered as the page renders
   * history) in place of `shown` and every message after it; returns the first of them. A message
   * the user is still sending, and one `stays(id)` says came after the answer, stay after them. A
   * reply this page streams and the answer shows streaming keeps its element, as new as the answer's.
   */
  replaceFrom(shown, answer, stays = () => false) {
    const fragment = serverMessages(answer.html);
    const fetched = [...fragment.querySelectorAll(".msg[data-message-id]")];
    const leaving = messagesFrom(shown, stays);
    const focused = focusedIn(leaving);
    const place = document.createComment("");
    shown.before(place);
    const running = this.running;
    this.adopt(fragment, answer.texts);
    this.running = running;
    const kept = new Set();
    for (const element of fetched) {
      const id = Number(element.dataset.messageId);
      const current = this.element(id);
      const streaming = current?.dataset.status === "streaming" && element.dataset.status === "streaming";
      // What came by the socket since the answer was asked for is newer than the answer.
      if (!current || !(streaming || stays(id))) continue;
      if (current.classList.contains("msg-assistant")) this.seqs.set(id, Number(current.dataset.seq) || 0);
      if (stays(id)) {
        element.remove();
      } else {
        kept.add(current);
        element.replaceWith(current);
      }
    }
    const first = fragment.firstElementChild;
    place.replaceWith(fragment);
    for (const element of leaving) {
      if (kept.has(element)) continue;
      const id = Number(element.dataset.messageId);
      element.remove();
      if (isId(id) && !this.element(id)) this.forget(id);
    }
    if (focused) refocus(focused, this.element(focused.id));
    this.setRunning(this.streamingIds().at(-1) ?? null);
    this.onChange(false);
    return first;
  }

  /**
   * After the socket opened: bring the messages from `shown` on up to date with `answer`, the
   * server's, fetched since. `asked`: the ids shown when it was asked for; messages that came by
   * the socket while it was on its way stay. Nothing changes when the page already shows the same
   * messages in the same states; replies that run then are resumed.
   */
  catchUp(shown, answer, asked) {
    const fetched = [...serverMessages(answer.html).querySelectorAll(".msg[data-message-id]")];
    const state = (element) => `${element.dataset.messageId}:${element.dataset.status || ""}`;
    const stays = (id) => !asked.has(id);
    if (messagesFrom(shown, stays).map(state).join() !== fetched.map(state).join()) {
      const before = new Set(this.shownIds());
      this.replaceFrom(shown, answer, stays);
      for (const element of fetched) {
        if (element.classList.contains("msg-user") && !before.has(Number(element.dataset.messageId))) {
          this.confirmPending(Number(element.dataset.messageId));
        }
      }
    }
    for (const id of this.streamingIds()) this.askResume(id, this.seqs.get(id) ?? 0);
  }

  /**
   * A message the page had not shown came with what it fetched: if the user is sending the same
   * text, it is theirs, saved while its `user_message` was on a socket that closed.
   */
  confirmPending(id) {
    const text = this.texts.get(String(id)) ?? "";
    const optimistic = [...this.list.querySelectorAll(".msg-user[data-client-id]")].find(
      (element) => element.querySelector(".bubble").textContent === text,
    );
    if (!optimistic) return;
    optimistic.remove();
    this.onUserMessage({ id, text }, optimistic.dataset.clientId);
  }

  /** After (re)connecting: the current state of every reply shown as running. */
  resumeStreaming() {
    this.resumeAsked.clear();
    for (const id of this.streamingIds()) this.askResume(id, this.seqs.get(id) ?? 0);
  }

  resumeRefused(id) {
    this.resumeAsked.delete(id);
    // The reply is gone (another tab retried it): drop it rather than show it running forever.
    const element = this.element(id);
    if (element?.dataset.status === "streaming") {
      element.remove();
      this.forget(id);
      if (this.running === id) this.setRunning(null);
    }
  }

  /** `kind`: "retry" (a failed or stopped reply) or "regenerate" (any finished last reply). */
  retry(id, kind = "retry") {
    const element = this.element(id);
    if (!element || element.dataset.retrying) return;
    element.dataset.retrying = "1";
    this.send({ type: kind, message_id: id, client_id: `retry:${id}` });
  }

  retryRefused(id) {
    const element = this.element(id);
    if (element) delete element.dataset.retrying;
  }

  forget(id) {
    this.seqs.delete(id);
    this.streamed.delete(id);
    this.texts.delete(String(id));
    this.resumeAsked.delete(id);
  }

  /** A new message replaces every request still waiting (the server has closed them too). */
  closePendingApprovals() {
    for (const panel of this.list.querySelectorAll('.approval[data-state="pending"], .approval[data-state="waiting"]')) {
      const element = panel.closest(".msg");
      const approval = this.approvals.get(element.id);
      if (approval) this.setApproval(element, { ...approval, status: "replaced" });
    }
  }

  /** The server refused a decision: the request is closed, for the reason it gave. */
  approvalClosed(id, note) {
    const element = this.element(id);
    const approval = element && this.approvals.get(element.id);
    if (approval) this.setApproval(element, { ...approval, status: "closed" }, note);
  }

  decide(id, decisions) {
    const panel = this.element(id)?.querySelector(TRAILING_APPROVAL);
    if (!panel) return;
    panel.querySelector(".approval-send").disabled = true;
    this.send({ type: "decide", message_id: id, decisions, client_id: `decide:${id}` });
  }

  // Parts of a reply.

  /** The reply's last request for decisions, after its text; one the run went on after is a part (`at`). */
  setApproval(element, approval, note = "") {
    const panel = element.querySelector(TRAILING_APPROVAL);
    if (approval && typeof approval === "object") this.approvals.set(element.id, approval);
    const shown = Number.isInteger(approval?.at) ? null : approval;
    if (panel) renderApproval(panel, shown, element.dataset.messageId, { readOnly: this.readOnly, note });
  }

  /** The reply's text and decisions before its current part, in order (docs/websocket.md, `parts`). */
  setParts(element, parts) {
    const box = element.querySelector(".msg-parts");
    box.replaceChildren();
    for (const part of Array.isArray(parts) ? parts : []) {
      if (!part || typeof part !== "object") continue;
      const text = document.createElement("div");
      text.className = "md";
      text.append(sanitizedFragment(typeof part.html === "string" ? part.html : ""));
      const panel = document.createElement("section");
      panel.className = "approval";
      panel.setAttribute("aria-label", gettext("Decisions for the agent"));
      renderApproval(panel, part.approval, element.dataset.messageId, { readOnly: this.readOnly });
      box.append(text, panel);
    }
    box.hidden = box.childElementCount === 0;
  }

  setBody(element, html, live) {
    element.querySelector(BODY).replaceChildren(sanitizedFragment(html));
    this.setLive(element, live);
  }

  /** The open block, rendered on the server (`live`), or nothing. */
  setLive(element, live) {
    element.querySelector(".tail").replaceChildren(sanitizedFragment(typeof live === "string" ? live : ""));
  }

  setActivity(element, text) {
    const activity = element.querySelector(".msg-activity");
    if (activity.textContent === text) return;
    activity.textContent = text;
    activity.hidden = text === "";
  }

  /** Redraws the tool calls; one the reader opened stays open, and keeps the keyboard focus. */
  setTools(element, calls) {
    const list = element.querySelector(".tool-chips");
    const opened = new Set([...list.querySelectorAll("details[open]")].map((d) => d.closest("li").dataset.toolId));
    const focused = list.contains(document.activeElement) ? document.activeElement.closest("li")?.dataset.toolId : null;
    list.replaceChildren();
    for (const call of Array.isArray(calls) ? calls : []) {
      if (call && typeof call === "object") {
        const chip = this.addTool(list, call.id, call.name, call.status);
        setToolDetails(chip, call.arguments, call.result);
        if (opened.has(chip.dataset.toolId)) chip.querySelector("details").open = true;
        if (focused === chip.dataset.toolId) chip.querySelector("summary").focus();
      }
    }
    list.hidden = list.childElementCount === 0;
  }

  addTool(list, id, name, status) {
    const chip = cloneTemplate("tpl-tool");
    chip.dataset.toolId = String(id ?? "");
    chip.querySelector(".tool-name").textContent = String(name || gettext("tool"));
    setToolStatus(chip, status === "done" ? "done" : "running");
    list.append(chip);
    list.hidden = false;
    return chip;
  }

  toolStarted(element, frame) {
    const list = element.querySelector(".tool-chips");
    if (findTool(list, frame.id)) return;
    this.addTool(list, frame.id, frame.name, "running");
  }

  toolFinished(element, frame) {
    const chip = findTool(element.querySelector(".tool-chips"), frame.id);
    if (!chip) return;
    setToolStatus(chip, "done");
    setToolDetails(chip, frame.arguments, frame.result);
  }
}

/** `shown` and the messages after it but those that stay (and one the user is still sending). */
function messagesFrom(shown, stays) {
  const messages = [shown];
  for (let next = shown.nextElementSibling; next; next = next.nextElementSibling) {
    const id = Number(next.dataset.messageId);
    if (isId(id) && !stays(id)) messages.push(next);
  }
  return messages;
}

/** Where the keyboard focus is, if on a control inside one of `messages`: the message, and which control. */
function focusedIn(messages) {
  const active = document.activeElement;
  const message = messages.find((element) => element !== active && element.contains(active));
  if (!message) return null;
  const selector = [active.localName, ...[...active.classList].map((name) => `.${CSS.escape(name)}`)].join("");
  return { id: message.dataset.messageId, selector, index: [...message.querySelectorAll(selector)].indexOf(active) };
}

/** Focus the same control in the message that took the place of the one that had it, if it has one. */
function refocus(focused, message) {
  if (!message || message.contains(document.activeElement)) return;
  message.querySelectorAll(focused.selector)[focused.index]?.focus({ preventScroll: true });
}

/** While a reply streams, screen readers wait for it to finish before reading it. */
function setStatus(element, status) {
  element.dataset.status = status;
  if (status === "streaming") element.setAttribute("aria-busy", "true");
  else element.removeAttribute("aria-busy");
}

function findTool(list, id) {
  return [...list.children].find((chip) => chip.dataset.toolId === String(id ?? ""));
}

function setToolStatus(chip, status) {
  chip.dataset.status = status;
  chip.querySelector(".tool-state").textContent = status === "done" ? gettext("done") : gettext("running");
}

/** A tool call's arguments and result as text (indented when JSON); empty values leave what is shown. */
function setToolDetails(chip, argumentsText, resultText) {
  for (const [name, value] of [["arguments", argumentsText], ["result", resultText]]) {
    if (typeof value !== "string" || value === "") continue;
    const block = chip.querySelector(`.tool-${name}`);
    block.textContent = prettyJson(value);
    block.hidden = false;
    foldIfLong(block);
    chip.querySelector(`.tool-${name}-label`).hidden = false;
    chip.querySelector(".tool-no-details").hidden = true;
  }
}

// A tool call's arguments or result longer than this shows its first lines and a "Show all" button.
const FOLD_LINES = 10;
const FOLD_CHARS = 800;

function foldIfLong(block) {
  const text = block.textContent;
  const long = !block.hidden && (text.split("\n").length > FOLD_LINES || text.length > FOLD_CHARS);
  block.toggleAttribute("data-folded", long);
  const button = block.nextElementSibling;
  button.hidden = !long;
  button.setAttribute("aria-expanded", "false");
  button.textContent = gettext("Show all");
}

/** Unfold a folded value, or fold it again. */
function toggleFold(button) {
  const block = button.previousElementSibling;
  const folded = block.toggleAttribute("data-folded");
  button.setAttribute("aria-expanded", String(!folded));
  button.textContent = folded ? gettext("Show all") : gettext("Show less");
}

function prettyJson(text) {
  try {
    return JSON.stringify(JSON.parse(text), null, 2);
  } catch {
    return text;
  }
}

function retryingText(frame) {
  const delay = Number(frame.delay);
  const seconds = Number.isFinite(delay) ? Math.max(1, Math.round(delay)) : null;
  const reason = typeof frame.reason === "string" && frame.reason ? frame.reason : gettext("The platform is busy");
  const when = seconds === null ? gettext("shortly") : format(gettext("in %(seconds)s s"), { seconds });
  const attempt = Number.isInteger(frame.attempt)
    ? " " + format(gettext("(attempt %(attempt)s)"), { attempt: frame.attempt })
    : "";
  return format(gettext("%(reason)s. Trying again %(when)s%(attempt)s…"), { reason, when, attempt });
}
