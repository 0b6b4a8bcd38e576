// One chat websocket that reconnects with backoff and holds frames sent while it is down.

const FIRST_DELAY_MS = 500;
const MAX_DELAY_MS = 15000;
// Close codes the server uses when retrying cannot help.
const FINAL_CLOSE_CODES = new Set([4401, 4403, 4404]);

export function websocketUrl(pathOrUrl) {
  if (/^wss?:\/\//.test(pathOrUrl)) return pathOrUrl;
  const url = new URL(pathOrUrl, window.location.href);
  url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
  return url.href;
}

export class ReconnectingSocket {
  /**
   * onFrame(frame): every JSON object frame with a string `type`, large ones joined from their pieces.
   * onOpen(isReconnect): after each successful connect, once queued frames are sent; also when the
   *   server says a frame to this socket was lost (`resync`), so the page resumes what it shows running.
   * onStatus(state): "connecting", "open", "reconnecting" or "closed" (for good).
   */
  constructor(url, { onFrame, onOpen, onStatus }) {
    this.url = websocketUrl(url);
    this.onFrame = onFrame;
    this.onOpen = onOpen;
    this.onStatus = onStatus;
    this.ws = null;
    this.queue = [];
    this.failures = 0;
    this.opens = 0;
    this.timer = null;
    this.stopped = false;
    // Pieces of large frames, by id, until all have arrived (docs/websocket.md).
    this.pieces = new Map();
  }

  start() {
    window.addEventListener("online", () => this.reconnectNow());
    document.addEventListener("visibilitychange", () => {
      if (document.visibilityState === "visible") this.reconnectNow();
    });
    this.connect();
  }

  get isOpen() {
    return this.ws !== null && this.ws.readyState === WebSocket.OPEN;
  }

  send(frame) {
    if (this.isOpen) {
      this.ws.send(JSON.stringify(frame));
    } else {
      this.queue.push(frame);
    }
  }

  connect() {
    if (this.stopped) return;
    this.timer = null;
    this.onStatus(this.opens === 0 ? "connecting" : "reconnecting");
    const ws = new WebSocket(this.url);
    this.ws = ws;
    this.pieces.clear();
    ws.addEventListener("open", () => {
      this.failures = 0;
      const isReconnect = this.opens > 0;
      this.opens += 1;
      this.onStatus("open");
      const queued = this.queue;
      this.queue = [];
      for (const frame of queued) ws.send(JSON.stringify(frame));
      this.onOpen(isReconnect);
    });
    ws.addEventListener("message", (event) => {
      let frame;
      try {
        frame = JSON.parse(event.data);
      } catch {
        return;
      }
      if (frame && frame.type === "frame.piece") frame = this.joinPiece(frame);
      if (frame && frame.type === "resync") {
        this.onOpen(true);
        return;
      }
      if (frame && typeof frame === "object" && typeof frame.type === "string") this.onFrame(frame);
    });
    ws.addEventListener("close", (event) => {
      if (this.ws !== ws) return;
      this.ws = null;
      if (FINAL_CLOSE_CODES.has(event.code)) {
        this.stopped = true;
        this.onStatus("closed", event.code);
        return;
      }
      this.scheduleReconnect();
    });
  }

  /** The whole frame once `piece` completes it, else null. */
  joinPiece(piece) {
    const { id, index, count, data } = piece;
    if (!Number.isInteger(index) || !Number.isInteger(count) || index < 0 || index >= count) return null;
    if (typeof data !== "string") return null;
    let parts = this.pieces.get(id);
    if (parts === undefined) {
      parts = { count, received: 0, data: new Array(count) };
      this.pieces.set(id, parts);
    }
    if (parts.count !== count || parts.data[index] !== undefined) return null;
    parts.data[index] = data;
    parts.received += 1;
    if (parts.received < count) return null;
    this.pieces.delete(id);
    try {
      return JSON.parse(parts.data.join(""));
    } catch {
      return null;
    }
  }

  scheduleReconnect() {
    if (this.stopped || this.timer !== null) return;
    this.onStatus("reconnecting");
    const base = Math.min(MAX_DELAY_MS, FIRST_DELAY_MS * 2 ** this.failures);
    this.failures += 1;
    const delay = base / 2 + Math.random() * (base / 2);
    this.timer = window.setTimeout(() => this.connect(), delay);
  }

  reconnectNow() {
    if (this.stopped || this.ws !== null) return;
    if (this.timer !== null) window.clearTimeout(this.timer);
    this.failures = 0;
    this.connect();
  }
}
