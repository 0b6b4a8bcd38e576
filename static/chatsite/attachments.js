// Files in the composer: chips, uploads with progress (XMLHttpRequest), removal.
// Upload protocol: docs/websocket.md, "Files".

import { cloneTemplate } from "./dom.js";
import { gettext, ngettext, format, pageLanguage } from "./i18n.js";

export function formatSize(bytes) {
  const oneDecimal = new Intl.NumberFormat(pageLanguage, { minimumFractionDigits: 1, maximumFractionDigits: 1 });
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${oneDecimal.format(bytes / 1024)} KB`;
  return `${oneDecimal.format(bytes / 1024 / 1024)} MB`;
}

/** The files of a saved message: thumbnails for displayed images, download chips for the rest. */
export function renderAttachments(list, attachments) {
  list.replaceChildren();
  for (const attachment of Array.isArray(attachments) ? attachments : []) {
    if (typeof attachment?.url !== "string" || !attachment.url.startsWith("/")) continue;
    let item;
    if (attachment.is_image) {
      item = document.createElement("li");
      item.className = "attachment attachment-image";
      const link = document.createElement("a");
      link.className = "attachment-link";
      link.href = attachment.url;
      link.target = "_blank";
      link.rel = "noopener";
      link.title = attachment.name;
      const image = document.createElement("img");
      image.className = "attachment-thumb";
      image.src = attachment.url;
      image.alt = attachment.name;
      link.append(image);
      item.append(link);
    } else {
      item = cloneTemplate("tpl-attachment-file");
      const link = item.querySelector("a");
      link.href = attachment.url;
      link.title = format(gettext("Download %(name)s"), { name: attachment.name });
      item.querySelector(".attachment-name").textContent = attachment.name;
      item.querySelector(".attachment-size").textContent = formatSize(attachment.size || 0);
    }
    item.dataset.attachmentId = String(attachment.id);
    list.append(item);
  }
  list.hidden = list.childElementCount === 0;
}

export class ComposerFiles {
  /**
   * list: the chips' <ul>. files: the page config's `files` ({accepted, imagesOnly, maxFiles, maxBytes, note}).
   * uploadUrl(): the conversation's upload address, creating the conversation first if needed (async).
   * onChange(): the set of files or their states changed.
   * onProblem(message): something to tell the user that belongs to no chip.
   */
  constructor(list, { files, csrfToken, uploadUrl, onChange, onProblem }) {
    this.list = list;
    this.rules = files;
    this.csrfToken = csrfToken;
    this.uploadUrl = uploadUrl;
    this.onChange = onChange;
    this.onProblem = onProblem;
    this.entries = [];
  }

  get enabled() {
    return this.rules.accepted.length > 0;
  }

  get uploading() {
    return this.entries.some((entry) => entry.state === "uploading");
  }

  get ready() {
    return this.entries.filter((entry) => entry.state === "ready");
  }

  add(fileList) {
    const files = [...fileList];
    if (!files.length) return;
    if (!this.enabled) {
      this.onProblem(this.rules.note || gettext("This agent takes no files."));
      return;
    }
    for (const file of files) {
      const entry = { file, state: "uploading", attachment: null, xhr: null, chip: cloneTemplate("tpl-file-chip") };
      entry.chip.querySelector(".file-chip-name").textContent = file.name || gettext("pasted file");
      entry.chip.querySelector(".file-chip-size").textContent = formatSize(file.size);
      entry.chip.querySelector(".file-chip-remove").addEventListener("click", () => this.remove(entry));
      this.entries.push(entry);
      this.list.append(entry.chip);
      const waiting = this.entries.filter((e) => e.state !== "failed").length;
      if (waiting > this.rules.maxFiles) {
        this.fail(
          entry,
          format(
            ngettext("At most %(count)s file goes with one message.", "At most %(count)s files go with one message.", this.rules.maxFiles),
            { count: this.rules.maxFiles },
          ),
        );
      } else if (file.size > this.rules.maxBytes) {
        const limit = Math.round(this.rules.maxBytes / 1024 / 1024);
        this.fail(entry, format(gettext("This file is %(size)s; the limit is %(limit)s MB."), { size: formatSize(file.size), limit }));
      } else if (file.size === 0) {
        this.fail(entry, gettext("This file is empty."));
      } else {
        this.upload(entry);
      }
    }
    this.changed();
  }

  /** A file uploaded earlier and not sent yet (from before a reload). */
  addUploaded(attachment) {
    const entry = { file: null, state: "uploading", attachment: null, xhr: null, chip: cloneTemplate("tpl-file-chip") };
    entry.chip.querySelector(".file-chip-size").textContent = formatSize(attachment.size || 0);
    entry.chip.querySelector(".file-chip-remove").addEventListener("click", () => this.remove(entry));
    this.entries.push(entry);
    this.list.append(entry.chip);
    this.succeed(entry, attachment);
  }

  async upload(entry) {
    let url;
    try {
      url = await this.uploadUrl();
    } catch {
      this.fail(entry, gettext("The conversation could not be started. Check the connection and try again."));
      return;
    }
    if (!this.entries.includes(entry)) return;
    const form = new FormData();
    form.append("file", entry.file, entry.file.name || "pasted");
    if (entry.file.name) form.append("name", entry.file.name);
    const xhr = new XMLHttpRequest();
    entry.xhr = xhr;
    const progress = entry.chip.querySelector(".file-chip-progress");
    xhr.upload.addEventListener("progress", (event) => {
      if (event.lengthComputable) progress.value = Math.round((event.loaded / event.total) * 100);
    });
    xhr.addEventListener("load", () => {
      let body = null;
      try {
        body = JSON.parse(xhr.responseText);
      } catch {
        body = null;
      }
      if (xhr.status === 201 && body && typeof body.id === "string") this.succeed(entry, body);
      else this.fail(entry, (body && typeof body.error === "string" && body.error) || format(gettext("The upload failed (HTTP %(status)s)."), { status: xhr.status }));
    });
    xhr.addEventListener("error", () => this.fail(entry, gettext("The upload failed. Check the connection and try again.")));
    xhr.open("POST", url);
    xhr.setRequestHeader("X-CSRFToken", this.csrfToken);
    xhr.setRequestHeader("Accept", "application/json");
    xhr.send(form);
  }

  succeed(entry, attachment) {
    entry.state = "ready";
    entry.attachment = attachment;
    entry.xhr = null;
    entry.chip.dataset.state = "ready";
    entry.chip.querySelector(".file-chip-progress").value = 100;
    entry.chip.querySelector(".file-chip-name").textContent = attachment.name;
    if (attachment.is_image) {
      const thumb = entry.chip.querySelector(".file-chip-thumb");
      const image = document.createElement("img");
      image.src = attachment.url;
      image.alt = "";
      thumb.replaceChildren(image);
    }
    this.changed();
  }

  fail(entry, message) {
    entry.state = "failed";
    entry.xhr = null;
    entry.chip.dataset.state = "failed";
    entry.chip.querySelector(".file-chip-error").textContent = message;
    this.changed();
  }

  remove(entry) {
    this.entries = this.entries.filter((e) => e !== entry);
    entry.chip.remove();
    if (entry.xhr) entry.xhr.abort();
    if (entry.state === "ready" && entry.attachment) {
      fetch(entry.attachment.url, {
        method: "DELETE",
        credentials: "same-origin",
        headers: { "X-CSRFToken": this.csrfToken },
      }).catch(() => {});
    }
    this.changed();
  }

  /** The ready files, taken out of the composer for a send; `restore` puts them back. */
  take() {
    const taken = this.ready;
    for (const entry of this.entries) entry.chip.remove();
    this.entries = [];
    this.changed();
    return taken;
  }

  restore(entries) {
    for (const entry of entries) {
      this.entries.push(entry);
      this.list.append(entry.chip);
    }
    this.changed();
  }

  changed() {
    this.list.hidden = this.entries.length === 0;
    this.onChange();
  }
}
