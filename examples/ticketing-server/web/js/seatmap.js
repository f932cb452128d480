// seatmap.js: the live seat map. The server renders the SVG; this file
// puts it in the page, lets the buyer pick available seats, and repaints
// seats from the live states (`/seats`) and the change stream (`/live`).
//
// Seat `n` of the map is the n-th <use> under <g id="seats">; its symbol
// (`#a`, `#h`, `#s`, `#b`, `#y`) is its state. A seat's id is its
// `data-seat` attribute when the renderer sets one, else its index.

const STATE_CODES = { available: "a", held: "h", sold: "s", blocked: "b", yours: "y" };
const STATE_WORDS = { a: "available", h: "held", s: "sold", b: "not for sale", y: "held by you" };
const WORD_RE = /(available|held by you|held|sold|not for sale)((?:, wheelchair accessible)?(?:, restricted view)?)$/;

/** A state as a one-letter code, from a code or a word. */
function stateCode(s) {
  if (!s) return "a";
  const t = String(s).toLowerCase();
  return STATE_WORDS[t] ? t : STATE_CODES[t] || "a";
}

class SeatMapView {
  /**
   * `showId`: the show; `onChange(picked)`: called when the pick changes;
   * `onLive(seatId, code)`: called for every live change.
   */
  constructor(showId, { onChange = () => {}, onLive = () => {} } = {}) {
    this.showId = showId;
    this.onChange = onChange;
    this.onLive = onLive;
    this.seats = new Map(); // id -> <use>
    this.order = []; // ids in map order
    this.states = new Map(); // id -> code as the store says
    this.mine = new Set(); // ids of the viewer's hold
    this.picked = new Set();
    this.pickable = false;
    this.maxPick = 8;
    this.root = el("div", { class: "map-wrap", testid: "seatmap" }, el("p", { class: "loading" }, "Loading the seat map…"));
    this.status = el("p", { class: "muted map-help", "aria-live": "polite", testid: "seatmap-status" });
    this.zoom = 0;
    const zoomOut = el("button", { type: "button", class: "secondary", "aria-label": "Zoom out", testid: "map-zoom-out", onclick: () => this.setZoom(this.zoom - 1) }, "−");
    const zoomIn = el("button", { type: "button", class: "secondary", "aria-label": "Zoom in", testid: "map-zoom-in", onclick: () => this.setZoom(this.zoom + 1) }, "+");
    this.node = el("div", {}, el("div", { class: "map-tools", role: "group", "aria-label": "Map zoom" }, zoomOut, zoomIn), this.root, this.status);
  }

  /** Zooms the map (the frame scrolls): 1x, 1.5x, 2x, 3x, 4x. */
  setZoom(level) {
    const levels = [1, 1.5, 2, 3, 4];
    this.zoom = Math.max(0, Math.min(levels.length - 1, level));
    const svg = this.root.querySelector("svg");
    if (svg) svg.style.width = `${levels[this.zoom] * 100}%`;
  }

  /** Fetches and shows the map, then its live states, then follows the stream. */
  async load() {
    const base = `/api/shows/${encodeURIComponent(this.showId)}`;
    const res = await fetch(`${base}/seatmap.svg`, { headers: { Accept: "image/svg+xml" } });
    if (!res.ok) throw new Error(`the seat map did not load (HTTP ${res.status})`);
    const doc = new DOMParser().parseFromString(await res.text(), "image/svg+xml");
    const svg = doc.documentElement;
    if (svg.nodeName !== "svg") throw new Error("the seat map is not an SVG document");
    const node = document.importNode(svg, true);
    node.setAttribute("focusable", "false");
    // An image's children are hidden from assistive technology; the seats
    // here are buttons, so the map is a group (still named by its title).
    node.setAttribute("role", "group");
    this.root.replaceChildren(node);
    const uses = node.querySelectorAll("g#seats use");
    uses.forEach((u, i) => {
      const id = u.getAttribute("data-seat") || String(i);
      u.dataset.testid = `seat-${id}`;
      u.dataset.seatId = id;
      this.seats.set(id, u);
      this.order.push(id);
      this.states.set(id, (u.getAttribute("href") || "#a").slice(1));
    });
    node.addEventListener("click", (e) => this.clicked(e.target));
    node.addEventListener("keydown", (e) => {
      if (e.key === "Enter" || e.key === " ") {
        e.preventDefault();
        this.clicked(e.target);
      }
    });
    await this.refresh();
    this.follow();
  }

  /** Reloads every seat's state from `/seats`. */
  async refresh() {
    try {
      const res = await api("GET", `/api/shows/${encodeURIComponent(this.showId)}/seats`, { auth: false });
      const seats = res.seats ?? res.states ?? res;
      if (typeof seats === "string") {
        [...seats].forEach((c, i) => this.order[i] !== undefined && this.states.set(this.order[i], stateCode(c)));
      } else if (seats && typeof seats === "object") {
        for (const [id, c] of Object.entries(seats)) if (this.seats.has(id)) this.states.set(id, stateCode(c));
      }
      this.lastCursor = res.cursor;
      this.paintAll();
    } catch (err) {
      this.status.textContent = `Live seat states unavailable: ${err.message}`;
    }
  }

  /**
   * Follows `/live` from the states just read (`after` = their cursor, so
   * no change in between is missed): each `seat` event repaints one seat.
   * On a reconnect the browser resumes from the last event it saw.
   */
  follow() {
    if (!window.EventSource) return;
    const after = this.lastCursor ? `?after=${encodeURIComponent(this.lastCursor)}` : "";
    this.stream = new EventSource(`/api/shows/${encodeURIComponent(this.showId)}/live${after}`);
    this.stream.addEventListener("seat", (e) => {
      let d;
      try {
        d = JSON.parse(e.data);
      } catch {
        return;
      }
      const id = String(d.seat_id ?? d.seat ?? "");
      if (!this.seats.has(id)) return;
      const code = stateCode(d.status ?? d.state);
      this.states.set(id, code);
      this.paint(id);
      this.onLive(id, code);
    });
    // Events were missed (a restart, a long absence): re-read every seat.
    this.stream.addEventListener("reset", () => this.refresh());
    this.stream.addEventListener("open", () => {
      this.root.dataset.live = "on";
    });
    this.stream.addEventListener("error", () => {
      this.root.dataset.live = "reconnecting";
    });
  }

  close() {
    if (this.stream) this.stream.close();
  }

  /** What the viewer sees for a seat: their own hold and pick first. */
  shown(id) {
    const c = this.states.get(id) || "a";
    if (this.mine.has(id) && c !== "s" && c !== "b") return "y";
    return c;
  }

  paint(id) {
    const u = this.seats.get(id);
    if (!u) return;
    const code = this.shown(id);
    if (u.getAttribute("href") !== `#${code}`) u.setAttribute("href", `#${code}`);
    u.dataset.state = code;
    const t = u.querySelector("title");
    if (t) t.textContent = t.textContent.replace(WORD_RE, `${STATE_WORDS[code]}$2`);
    if (code !== "a" && this.picked.has(id)) {
      this.picked.delete(id);
      this.onChange(this.pickedList());
    }
    const can = this.pickable && code === "a";
    u.classList.toggle("pickable", can);
    u.classList.toggle("picked", this.picked.has(id));
    if (can) {
      u.setAttribute("tabindex", "0");
      u.setAttribute("role", "button");
      u.setAttribute("aria-pressed", this.picked.has(id) ? "true" : "false");
    } else {
      u.removeAttribute("tabindex");
      u.removeAttribute("role");
      u.removeAttribute("aria-pressed");
    }
  }

  paintAll() {
    for (const id of this.order) this.paint(id);
    const free = this.order.filter((id) => this.states.get(id) === "a").length;
    this.root.dataset.available = String(free);
    this.status.textContent = this.pickable
      ? `${free} seats available. Select up to ${this.maxPick} seats on the map, or ask for the best available.`
      : `${free} seats available.`;
  }

  /** Lets the viewer pick seats (once admitted), or not. */
  setPickable(on) {
    this.pickable = on;
    if (!on) this.picked.clear();
    this.paintAll();
    this.onChange(this.pickedList());
  }

  /** Marks the viewer's held seats. */
  setMine(ids) {
    this.mine = new Set(ids.map(String));
    this.picked.clear();
    this.paintAll();
    this.onChange(this.pickedList());
  }

  clicked(target) {
    const u = target && target.closest ? target.closest("use") : null;
    if (!u || !u.dataset.seatId) return;
    const id = u.dataset.seatId;
    if (!this.pickable || this.shown(id) !== "a") return;
    if (this.picked.has(id)) this.picked.delete(id);
    else if (this.picked.size >= this.maxPick) {
      toast(`At most ${this.maxPick} seats at a time.`);
      return;
    } else this.picked.add(id);
    this.paint(id);
    this.onChange(this.pickedList());
  }

  /** The picked seats: `{id, label, category}` in map order. */
  pickedList() {
    return this.order.filter((id) => this.picked.has(id)).map((id) => {
      const m = /(?:^|\s)c(\d+)(?:\s|$)/.exec(this.seats.get(id)?.getAttribute("class") || "");
      return { id, label: this.label(id), category: m ? Number(m[1]) : null };
    });
  }

  /** A seat's label from its title: "Stalls, row A, seat 1". */
  label(id) {
    const t = this.seats.get(id)?.querySelector("title")?.textContent || `Seat ${id}`;
    return t.split(":")[0];
  }
}
