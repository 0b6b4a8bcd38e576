// Thumbs up or down and a comment on a finished reply, saved over HTTP (one per reply, changeable).
import { gettext } from "./i18n.js";

/**
 * list: the #messages element.
 * feedbackUrl(messageId): where a reply's feedback is posted, or null before the conversation exists.
 * csrfToken: the page's CSRF token.
 */
export function initFeedback(list, { feedbackUrl, csrfToken }) {
  async function save(reply, rating, comment) {
    const url = feedbackUrl(reply.dataset.messageId);
    const status = reply.querySelector(".feedback-status");
    if (!url) return false;
    const body = new FormData();
    body.set("rating", rating);
    body.set("comment", comment);
    let answer;
    try {
      const response = await fetch(url, {
        method: "POST",
        body,
        headers: { "X-CSRFToken": csrfToken, Accept: "application/json" },
        credentials: "same-origin",
      });
      answer = await response.json();
      if (!response.ok) throw new Error(answer.error || gettext("Your feedback was not saved."));
    } catch (error) {
      status.textContent = error instanceof SyntaxError ? gettext("Your feedback was not saved.") : error.message;
      status.dataset.state = "error";
      return false;
    }
    showRating(reply, answer.rating);
    reply.querySelector(".feedback-comment").value = answer.comment;
    return true;
  }

  list.addEventListener("click", async (event) => {
    const target = event.target instanceof Element ? event.target : null;
    const thumb = target?.closest(".feedback-btn");
    const reply = target?.closest(".msg-assistant");
    if (!reply) return;
    if (thumb) {
      const form = reply.querySelector(".feedback-form");
      const comment = form.querySelector(".feedback-comment");
      if (await save(reply, thumb.dataset.rating, comment.value)) {
        setStatus(reply, gettext("Thanks. Add a comment if you like."));
        form.hidden = false;
        comment.focus();
      } else {
        form.hidden = false;
      }
      return;
    }
    if (target.closest(".feedback-close")) {
      reply.querySelector(".feedback-form").hidden = true;
      reply.querySelector(".feedback-btn[aria-pressed='true']")?.focus();
    }
  });

  list.addEventListener("submit", async (event) => {
    const form = event.target instanceof HTMLFormElement ? event.target : null;
    if (!form?.classList.contains("feedback-form")) return;
    event.preventDefault();
    const reply = form.closest(".msg-assistant");
    const rating = reply.querySelector(".feedback").dataset.rating;
    if (!rating) {
      setStatus(reply, gettext("Choose thumbs up or thumbs down first."), "error");
      return;
    }
    if (await save(reply, rating, form.querySelector(".feedback-comment").value)) {
      setStatus(reply, gettext("Comment saved."));
    }
  });

  list.addEventListener("keydown", (event) => {
    const form = event.target instanceof Element ? event.target.closest(".feedback-form") : null;
    if (form && event.key === "Escape") {
      event.stopPropagation();
      form.hidden = true;
      form.closest(".msg-assistant")?.querySelector(".feedback-btn")?.focus();
    }
  });
}

function showRating(reply, rating) {
  reply.querySelector(".feedback").dataset.rating = rating;
  for (const button of reply.querySelectorAll(".feedback-btn")) {
    button.setAttribute("aria-pressed", String(button.dataset.rating === rating));
  }
}

function setStatus(reply, text, state = "ok") {
  const status = reply.querySelector(".feedback-status");
  status.textContent = text;
  status.dataset.state = state;
}
