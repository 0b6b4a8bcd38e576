// Files in the composer: chips, uploads with progress (XMLHttpRequest), removal.
// Upload protocol: docs/websocket.md, "Files".

import { cloneTemplate } from "./dom.js";

export function formatSize(bytes) {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
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
      link.title = `Download ${attachment.name}`;
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
      this.onProblem(this.rules.note || "This agent takes no files.");
      return;
    }
    for (const file of files) {
      const entry = { file, state: "uploading", attachment: null, xhr: null, chip: cloneTemplate("tpl-file-chip") };
      entry.chip.querySelector(".file-chip-name").textContent = file.name || "pasted file";
      entry.chip.querySelector(".file-chip-size").textContent = formatSize(file.size);
      entry.chip.querySelector(".file-chip-remove").addEventListener("click", () => this.remove(entry));
      this.entries.push(entry);
      this.list.append(entry.chip);
      const waiting = this.entries.filter((e) => e.state !== "failed").length;
      if (waiting > this.rules.maxFiles) {
        this.fail(entry, `At most ${this.rules.maxFiles} file(s) go with one message.`);
      } else if (file.size > this.rules.maxBytes) {
        const limit = Math.round(this.rules.maxBytes / 1024 / 1024);
        this.fail(entry, `This file is ${formatSize(file.size)}; the limit is ${limit} MB.`);
      } else if (file.size === 0) {
        this.fail(entry, "This file is empty.");
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
      this.fail(entry, "The conversation could not be started. Check the connection and try again.");
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
      else this.fail(entry, (body && typeof body.error === "string" && body.error) || `The upload failed (HTTP ${xhr.status}).`);
    });
    xhr.addEventListener("error", () => this.fail(entry, "The upload failed. Check the connection and try again."));
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
