// A paused reply's request for decisions (docs/websocket.md, `approval`): one
// block per action with its arguments and only the decisions the platform allows.
// Everything from the platform is set as text.
import { gettext, format } from "./i18n.js";

const LABELS = { approve: gettext("Approve"), reject: gettext("Reject"), respond: gettext("Respond") };
const DONE = { approve: gettext("approved"), reject: gettext("rejected"), respond: gettext("answered") };
// What a request that takes no decisions says about itself, by its status.
const CLOSED = {
  replaced: gettext("Not answered: a newer message replaced this request."),
  expired: gettext("Not answered: the request expired on the platform."),
};

function make(tag, className, text) {
  const element = document.createElement(tag);
  if (className) element.className = className;
  if (text !== undefined) element.textContent = text;
  return element;
}

function readableArgs(args) {
  try {
    return JSON.stringify(args ?? {}, null, 2);
  } catch {
    return String(args);
  }
}

function titleOf(status, readOnly) {
  if (status === "pending") {
    return readOnly
      ? gettext("The agent is waiting for the owner's decision.")
      : gettext("The agent is waiting for your decision.");
  }
  if (CLOSED[status]) return CLOSED[status];
  return readOnly ? gettext("Decisions") : gettext("Your decisions");
}

/**
 * Show `approval` in `panel` (the reply's `.approval` element); an empty one hides it.
 * Only a pending request on the owner's page (not `readOnly`) has controls; `note` says why a
 * request was closed when the server refused a decision.
 */
export function renderApproval(panel, approval, messageId, { readOnly = false, note = "" } = {}) {
  panel.replaceChildren();
  const actions = approval && Array.isArray(approval.actions) ? approval.actions : [];
  panel.hidden = actions.length === 0;
  if (panel.hidden) {
    delete panel.dataset.state;
    return;
  }
  const status = typeof approval.status === "string" ? approval.status : "resolved";
  const pending = status === "pending" && !readOnly;
  const decisions = Array.isArray(approval.decisions) ? approval.decisions : [];
  panel.dataset.state = status === "pending" && readOnly ? "waiting" : status;
  panel.append(make("p", "approval-title", note || titleOf(status, readOnly)));
  const list = make("ol", "approval-actions");
  actions.forEach((action, index) => {
    const item = make("li", "approval-action");
    item.append(make("p", "approval-name", String(action?.name || gettext("action"))));
    // A question (an action with nothing to show but its name) has no arguments block.
    const args = action?.args;
    const empty = args === undefined || args === null || (typeof args === "object" && !Object.keys(args).length);
    if (!empty) item.append(make("pre", "approval-args", readableArgs(args)));
    if (pending) {
      const choices = make("div", "approval-choices");
      choices.setAttribute("role", "radiogroup");
      choices.setAttribute("aria-label", format(gettext("Decision on %(action)s"), { action: action?.name || gettext("this action") }));
      for (const kind of Array.isArray(action?.allowed) ? action.allowed : []) {
        if (!LABELS[kind]) continue;
        const label = make("label", `approval-choice approval-${kind}`);
        const radio = make("input");
        radio.type = "radio";
        radio.name = `decision-${messageId}-${index}`;
        radio.value = kind;
        label.append(radio, document.createTextNode(LABELS[kind]));
        choices.append(label);
      }
      const response = make("textarea", "approval-response");
      response.rows = 2;
      response.placeholder = gettext("Your answer to the agent");
      response.setAttribute("aria-label", format(gettext("Your answer about %(action)s"), { action: action?.name || gettext("this action") }));
      response.hidden = true;
      item.append(choices, response);
    } else if (decisions[index]) {
      const decision = decisions[index];
      const said = DONE[decision.type] || gettext("decided");
      item.append(make("p", "approval-decision", decision.message ? `${said}: ${decision.message}` : said));
    }
    list.append(item);
  });
  panel.append(list);
  if (pending) {
    const send = make("button", "btn btn-primary btn-small approval-send", gettext("Send decisions"));
    send.type = "button";
    panel.append(send, make("p", "approval-error"));
  }
}

/** Show the answer box of an action whose chosen decision is "respond". */
export function choiceChanged(radio) {
  const response = radio.closest(".approval-action")?.querySelector(".approval-response");
  if (response) response.hidden = radio.value !== "respond";
  if (radio.value === "respond") response?.focus();
}

/** The decisions chosen in `panel`, in order, or a sentence saying what is missing. */
export function chosenDecisions(panel) {
  const decisions = [];
  for (const item of panel.querySelectorAll(".approval-action")) {
    const name = item.querySelector(".approval-name").textContent;
    const chosen = item.querySelector("input[type=radio]:checked");
    if (!chosen) return { problem: format(gettext("Choose what to do about %(action)s."), { action: name }) };
    if (chosen.value === "respond") {
      const message = item.querySelector(".approval-response").value.trim();
      if (!message) return { problem: format(gettext("Write your answer about %(action)s."), { action: name }) };
      decisions.push({ type: "respond", message });
    } else {
      decisions.push({ type: chosen.value });
    }
  }
  return { decisions };
}

export function showApprovalProblem(panel, text) {
  const error = panel.querySelector(".approval-error");
  if (error) error.textContent = text;
  const send = panel.querySelector(".approval-send");
  if (send) send.disabled = false;
}
