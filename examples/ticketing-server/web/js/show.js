// show.js: a show's page: the waiting room, the live seat map, the hold
// with its countdown, and checkout.

const GOOD_CARD = "4242424242424242";

/** The show's waiting-room admission, kept for this tab. */
const admission = {
  key: (showId) => `admission:${showId}`,
  get: (showId) => sessionStorage.getItem(admission.key(showId)),
  set: (showId, token) => sessionStorage.setItem(admission.key(showId), token),
  clear: (showId) => sessionStorage.removeItem(admission.key(showId)),
};

/** The viewer's live hold on the show, kept for this tab. */
const savedHold = {
  key: (showId) => `hold:${showId}`,
  get(showId) {
    try {
      const h = JSON.parse(sessionStorage.getItem(savedHold.key(showId)) || "null");
      return h && new Date(h.held_until).getTime() > Date.now() ? h : null;
    } catch {
      return null;
    }
  },
  set: (showId, h) => sessionStorage.setItem(savedHold.key(showId), JSON.stringify(h)),
  clear: (showId) => sessionStorage.removeItem(savedHold.key(showId)),
};

/** Whether the show's waiting room is on, from the show document. */
function waitingRoomOn(show) {
  const w = show.waiting_room ?? show.onsale?.waiting_room ?? show.on_sale?.waiting_room;
  if (typeof w === "boolean") return w;
  if (w && typeof w === "object") return w.enabled !== false && w.on !== false;
  return Boolean(show.queue_required);
}

function showHeader(show) {
  const venue = show.venue?.name ?? show.venue ?? "";
  const prices = show.prices || show.categories || [];
  const state = show.availability;
  return el("section", { class: "card", "aria-labelledby": "show-title" },
    el("h1", { id: "show-title", testid: "show-title" }, show.title || show.event?.title || "Show"),
    el("p", {}, when(show.starts_at), venue ? ` · ${venue}` : "", show.venue?.city || show.city ? ` · ${show.venue?.city || show.city}` : ""),
    show.description ? el("p", { class: "muted" }, show.description) : null,
    typeof state === "string" ? el("p", {}, el("span", { class: "badge", testid: "onsale-state" }, words(state))) : null,
    prices.length
      ? el("ul", { class: "prices", "aria-label": "Prices" }, prices.map((p) =>
        el("li", {}, p.color ? el("span", { class: "swatch", style: `background:${p.color}` }) : null,
          `${p.name ?? p.category_name ?? `Category ${p.category}`}: `, el("strong", {}, money(p.price ?? p.amount ?? p.total)))))
      : null);
}

async function pageShow() {
  if (!requireLogin()) return;
  const showId = pathId();
  let show;
  try {
    show = await api("GET", `/api/shows/${encodeURIComponent(showId)}`);
  } catch (err) {
    render(el("h1", {}, "Show"), errorBox(err));
    return;
  }
  title(show.title || show.event?.title || "Show");
  const queueBox = el("section", { class: "card queue", "aria-labelledby": "queue-title", testid: "queue" });
  const pickBox = el("section", { class: "card", "aria-labelledby": "pick-title", testid: "pick" });
  const holdBox = el("section", { class: "card", "aria-labelledby": "hold-title", testid: "hold", hidden: true });
  const map = new SeatMapView(showId, { onChange: (picked) => drawPick(picked) });
  const most = Math.max(1, Math.min(show.max_per_request || 8, 10));
  map.maxPick = most;
  render(showHeader(show), queueBox,
    el("div", { class: "grid two" },
      el("section", { class: "card", "aria-labelledby": "map-title" }, el("h2", { id: "map-title" }, "Seat map"), map.node),
      el("div", {}, pickBox, holdBox)));
  window.addEventListener("pagehide", () => map.close());
  map.load().catch((err) => map.root.replaceChildren(errorBox(err, "seatmap-error")));

  // ---- Waiting room -------------------------------------------------
  const needQueue = waitingRoomOn(show);
  async function enterQueue() {
    if (!needQueue || admission.get(showId)) {
      queueBox.classList.remove("card");
      queueBox.replaceChildren(el("p", { class: "ok", testid: "queue-admitted" }, "You're in: pick your seats."));
      map.setPickable(true);
      return;
    }
    let status = null;
    try {
      status = await api("GET", `/api/shows/${encodeURIComponent(showId)}/queue`);
    } catch {
      status = null; // not in the queue yet
    }
    if (status && status.admitted && status.admission_token) return admitted(status);
    if (status && stillWaiting(status)) return waitInQueue(status);
    return showJoin(status ? "Your turn in the queue has passed; join again." : "");
  }

  /** Whether a queue status is still in line (not let in, not dropped). */
  function stillWaiting(s) {
    return s.visitor_id && (s.state === undefined || s.state === "waiting" || s.state === "pre_queue");
  }

  function showJoin(note) {
    queueBox.classList.add("card");
    const join = el("button", { type: "button", testid: "queue-join" }, "Join the queue");
    queueBox.replaceChildren(...[
      el("h2", { id: "queue-title" }, "Waiting room"),
      el("p", {}, "This show is in high demand. Join the queue: you'll be let in to pick seats in turn."),
      note ? el("p", { class: "notice", testid: "queue-note" }, note) : null,
      el("div", { class: "actions" }, join)].filter(Boolean));
    join.addEventListener("click", async () => {
      join.disabled = true;
      try {
        const s = await api("POST", `/api/shows/${encodeURIComponent(showId)}/queue`, { body: {} });
        if (s.admitted && s.admission_token) admitted(s);
        else if (stillWaiting(s)) waitInQueue(s);
        else showJoin(`The queue answered "${words(s.state)}": try again.`);
      } catch (err) {
        join.disabled = false;
        queueBox.append(errorBox(err, "queue-error"));
      }
    });
  }

  function admitted(s) {
    admission.set(showId, s.admission_token);
    queueBox.classList.remove("card");
    queueBox.replaceChildren(el("p", { class: "ok", testid: "queue-admitted" }, "It's your turn: pick your seats."));
    map.setPickable(true);
  }

  async function waitInQueue(first) {
    const pos = el("p", { class: "big", testid: "queue-position" });
    const wait = el("p", { testid: "queue-wait" });
    const bar = el("span");
    const msg = el("div", { "aria-live": "polite" });
    queueBox.replaceChildren(
      el("h2", { id: "queue-title" }, "You're in the queue"),
      el("p", { class: "muted" }, "Your place in line"), pos,
      el("div", { class: "progress", "aria-hidden": "true" }, bar), wait, msg,
      el("p", { class: "muted" }, "Keep this page open; it updates by itself."));
    const start = Math.max(1, first.position || 1);
    let s = first;
    for (;;) {
      if (s.admitted && s.admission_token) return admitted(s);
      if (!stillWaiting(s)) return showJoin("Your turn in the queue has passed; join again.");
      pos.textContent = s.position != null ? `#${s.position}` : "…";
      const secs = s.estimated_wait_secs ?? 0;
      wait.textContent = secs > 0 ? `Estimated wait: about ${clock(secs)}` : "Almost there…";
      bar.style.width = `${Math.min(100, Math.max(5, 100 * (1 - (s.position || 0) / start)))}%`;
      await pause(Math.min(5000, Math.max(1000, secs * 250)));
      try {
        s = await api("GET", `/api/shows/${encodeURIComponent(showId)}/queue`);
        msg.replaceChildren();
      } catch (err) {
        msg.replaceChildren(errorBox(err, "queue-error"));
        await pause(err.retryAfter ? err.retryAfter * 1000 : 2000);
      }
    }
  }

  // ---- Picking seats --------------------------------------------------
  const quantity = el("select", { id: "best-qty", testid: "best-quantity" },
    Array.from({ length: most }, (_, i) => i + 1).map((n) => el("option", { value: n, selected: n === Math.min(2, most) }, String(n))));
  const pickMsg = el("div", { "aria-live": "polite" });
  const chosen = el("ul", { class: "chosen", testid: "picked-seats", "aria-label": "Selected seats" });
  const subtotal = el("p", { class: "muted", testid: "picked-subtotal", "aria-live": "polite" });
  const holdPicked = el("button", { type: "button", testid: "hold-selected", disabled: true }, "Hold selected seats");
  const holdBest = el("button", { type: "button", class: "secondary", testid: "hold-best" }, "Best available");
  pickBox.append(
    el("h2", { id: "pick-title" }, "Choose seats"),
    chosen, subtotal,
    el("div", { class: "actions" }, holdPicked),
    el("label", { for: "best-qty", style: "margin-top:1rem" }, "Or the best available seats, how many:"),
    el("div", { class: "row" }, el("div", { class: "grow" }, quantity), holdBest),
    pickMsg);

  function drawPick(picked) {
    chosen.replaceChildren(...(picked.length
      ? picked.map((p) => el("li", { testid: "picked-seat" }, p.label))
      : [el("li", { class: "muted", style: "border:none;background:none" }, map.pickable ? "Tap seats on the map to select them." : "Seats can be picked once you're let in.")]));
    const prices = new Map((show.prices || []).map((p) => [p.category, p.price]));
    const sum = picked.reduce((acc, p) => {
      const price = prices.get(p.category);
      return acc && price ? { minor: acc.minor + price.minor, currency: price.currency } : null;
    }, { minor: 0, currency: (show.prices || [])[0]?.price?.currency || "EUR" });
    subtotal.textContent = picked.length && sum ? `${picked.length} seat${picked.length === 1 ? "" : "s"}: ${money(sum)} before fees` : "";
    holdPicked.disabled = !map.pickable || picked.length === 0;
    holdPicked.textContent = picked.length > 1 ? `Hold ${picked.length} seats` : "Hold selected seat";
    holdBest.disabled = !map.pickable;
  }
  drawPick([]);

  async function hold(body) {
    pickMsg.replaceChildren();
    holdPicked.disabled = true;
    holdBest.disabled = true;
    const headers = {};
    const token = admission.get(showId);
    if (token) headers["X-Admission-Token"] = token;
    try {
      const h = await api("POST", `/api/shows/${encodeURIComponent(showId)}/holds`, { body, headers });
      h.checkout_key = newKey();
      savedHold.set(showId, h);
      showHold(h);
    } catch (err) {
      if (err.status === 403 && /admission/.test(err.code)) {
        admission.clear(showId);
        enterQueue();
      }
      pickMsg.replaceChildren(errorBox(err, "hold-error"));
      map.refresh();
      drawPick(map.pickedList());
    }
  }
  holdPicked.addEventListener("click", () => {
    const seats = map.pickedList().map((p) => (/^\d+$/.test(p.id) ? Number(p.id) : p.id));
    if (seats.length) hold({ seats });
  });
  holdBest.addEventListener("click", () => hold({ best: { quantity: Number(quantity.value) } }));

  // ---- The hold and checkout -------------------------------------------
  let tick = null;
  function showHold(h) {
    map.setMine((h.seats || []).map((s) => String(s.seat_id ?? s.id ?? s)));
    map.setPickable(false);
    pickBox.hidden = true;
    holdBox.hidden = false;
    holdBox.scrollIntoView({ block: "start" });
    const left = el("span", { class: "countdown", testid: "hold-countdown", role: "timer", "aria-live": "off" });
    const card = el("input", { id: "card", inputmode: "numeric", autocomplete: "cc-number", value: GOOD_CARD, testid: "checkout-card" });
    const pay = el("button", { type: "submit", testid: "checkout-pay" }, `Pay ${money(h.total)}`);
    const extend = el("button", { type: "button", class: "secondary", testid: "hold-extend" }, "More time");
    const release = el("button", { type: "button", class: "danger", testid: "hold-release" }, "Release seats");
    const msg = el("div", { "aria-live": "polite" });
    const form = el("form", { novalidate: true },
      el("label", { for: "card" }, "Card number"), card,
      el("p", { class: "muted" }, "Test cards: 4242 4242 4242 4242 pays, 4000 0000 0000 0002 is declined."),
      el("div", { class: "actions" }, pay));
    holdBox.replaceChildren(
      el("h2", { id: "hold-title" }, "Your seats are held"),
      el("ul", { class: "chosen", testid: "held-seats" }, (h.seats || []).map((s) => el("li", {}, s.label ?? `Seat ${s.seat_id ?? s}`))),
      el("p", {}, "Total: ", el("span", { class: "total", testid: "hold-total" }, money(h.total))),
      el("p", {}, "Time left: ", left),
      el("div", { class: "actions" }, extend, release),
      el("hr"),
      el("h2", {}, "Checkout"),
      form, msg);
    const until = () => new Date(h.held_until).getTime();
    clearInterval(tick);
    const step = () => {
      const secs = (until() - Date.now()) / 1000;
      left.textContent = clock(secs);
      left.classList.toggle("low", secs < 60);
      if (secs <= 0) {
        clearInterval(tick);
        savedHold.clear(showId);
        endHold("Your hold expired: the seats went back on sale.");
      }
    };
    step();
    tick = setInterval(step, 1000);
    extend.addEventListener("click", async () => {
      try {
        const r = await api("POST", `/api/holds/${encodeURIComponent(h.hold_id)}/extend`);
        h.held_until = r.held_until ?? h.held_until;
        if (r.token) h.token = r.token;
        savedHold.set(showId, h);
        step();
        toast("Hold extended.");
      } catch (err) {
        msg.replaceChildren(errorBox(err, "extend-error"));
      }
    });
    release.addEventListener("click", async () => {
      try {
        await api("DELETE", `/api/holds/${encodeURIComponent(h.hold_id)}`);
      } catch (err) {
        if (err.status !== 404) {
          msg.replaceChildren(errorBox(err, "release-error"));
          return;
        }
      }
      savedHold.clear(showId);
      endHold("Seats released.");
    });
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      const number = card.value.replace(/\s+/g, "");
      if (!/^\d{12,19}$/.test(number)) {
        msg.replaceChildren(el("div", { class: "error", role: "alert", testid: "checkout-error" }, "Enter a card number (digits only)."));
        return;
      }
      if (h.checkout_card && h.checkout_card !== number) h.checkout_key = newKey();
      h.checkout_card = number;
      savedHold.set(showId, h);
      pay.disabled = true;
      msg.replaceChildren(el("p", { class: "muted", role: "status" }, "Paying…"));
      try {
        // 202: the payment is still being settled; the same key asks again.
        let order = null;
        for (let i = 0; i < 30 && !(order && order.order_id); i += 1) {
          if (i > 0) await pause(1000);
          order = await api("POST", "/api/checkout", {
            body: { hold_id: h.hold_id, payment: { card: number } },
            headers: { "Idempotency-Key": h.checkout_key },
          });
        }
        if (!order || !order.order_id) throw new Error("The payment is taking long: look in My orders shortly.");
        savedHold.clear(showId);
        clearInterval(tick);
        location.assign(`/orders/${encodeURIComponent(order.order_id)}?new=1`);
      } catch (err) {
        pay.disabled = false;
        if (err.status === 402) {
          // Declined: the order failed and its seats went back on sale.
          savedHold.clear(showId);
          const why = err.problem.reason ? ` (${words(err.problem.reason)})` : "";
          endHold(`Your card was declined${why}. Nothing was charged; pick seats again to retry.`, "checkout-declined");
          return;
        }
        msg.replaceChildren(errorBox(err, "checkout-error"));
        if (err.status === 404 || err.status === 409 || err.status === 410) {
          savedHold.clear(showId);
          endHold("This hold is gone; pick seats again.");
        }
      }
    });
  }

  function endHold(text, testid = "hold-ended") {
    clearInterval(tick);
    holdBox.hidden = true;
    pickBox.hidden = false;
    map.setMine([]);
    map.refresh();
    map.setPickable(!needQueue || Boolean(admission.get(showId)));
    pickMsg.replaceChildren(el("p", { class: "notice", role: "status", testid }, text));
  }

  const existing = savedHold.get(showId);
  if (existing) {
    queueBox.hidden = true;
    showHold(existing);
  } else {
    await enterQueue();
  }
}
