// orders.js: my orders, an order (the confirmation), a ticket.

function statusBadge(status) {
  const s = String(status || "unknown");
  const cls = /complet|paid|confirm|sold/i.test(s) ? "badge ok" : /fail|declin|cancel|refund/i.test(s) ? "badge bad" : "badge";
  return el("span", { class: cls, testid: "order-status" }, words(s));
}

/** The ticket ids of an order, whatever shape its tickets come in. */
function orderTickets(order) {
  return (order.tickets || []).map((t) => (typeof t === "string" ? { ticket_id: t } : t));
}

async function pageOrders() {
  if (!requireLogin()) return;
  title("My orders");
  render(el("h1", {}, "My orders"), el("p", { class: "loading" }, "Loading…"));
  try {
    const res = await api("GET", "/api/orders");
    const orders = Array.isArray(res) ? res : res.orders || res.results || [];
    if (orders.length === 0) {
      render(el("h1", {}, "My orders"), el("p", { class: "notice", testid: "no-orders" }, "No orders yet. ", el("a", { href: "/events" }, "Find an event")));
      return;
    }
    const shows = new Map();
    await Promise.all([...new Set(orders.map((o) => o.show_id).filter(Boolean))].map(async (id) => shows.set(id, await showDoc(id))));
    const items = orders.map((o) => {
      const show = shows.get(o.show_id);
      const n = orderTickets(o).length;
      return el("li", { class: "card order-card", testid: "order-row" },
        el("h2", {}, el("a", { href: `/orders/${encodeURIComponent(o.order_id)}`, testid: `order-link-${o.order_id}` },
          show?.title || `Order ${String(o.order_id).slice(0, 8)}`)),
        show ? el("p", {}, when(show.starts_at), " · ", show.venue?.name || "") : null,
        el("p", {}, statusBadge(o.status), " ", el("strong", {}, money(o.total)), n ? ` · ${n} ticket${n === 1 ? "" : "s"}` : ""),
        el("p", { class: "muted" }, `Ordered ${when(o.created_at)}`));
    });
    render(el("h1", {}, "My orders"), el("ul", { class: "results", testid: "orders-list" }, items));
  } catch (err) {
    render(el("h1", {}, "My orders"), errorBox(err));
  }
}

async function pageOrder() {
  if (!requireLogin()) return;
  const orderId = pathId();
  title("Order");
  const fresh = new URLSearchParams(location.search).has("new");
  render(el("h1", {}, "Order"), el("p", { class: "loading" }, "Loading…"));
  let order;
  // A new order may still be completing: ask again for a few seconds.
  for (let i = 0; i < 20; i += 1) {
    try {
      order = await api("GET", `/api/orders/${encodeURIComponent(orderId)}`);
    } catch (err) {
      render(el("h1", {}, "Order"), errorBox(err));
      return;
    }
    if (orderTickets(order).length > 0 || /fail|declin|cancel|refund/i.test(order.status || "")) break;
    await pause(500);
  }
  const tickets = orderTickets(order);
  const show = order.show_id ? await showDoc(order.show_id) : null;
  const heading = fresh && tickets.length ? "Thank you! Your order is confirmed" : "Order";
  title(heading);
  render(
    el("h1", { testid: "order-heading" }, heading),
    el("section", { class: "card", testid: "order" },
      el("p", {}, "Order ", el("code", { testid: "order-id" }, order.order_id), " ", statusBadge(order.status)),
      show ? el("p", {}, el("a", { href: `/shows/${encodeURIComponent(show.show_id)}` }, el("strong", {}, show.title)), " · ", when(show.starts_at), " · ", show.venue?.name || "") : null,
      order.reason ? el("p", { class: "notice", testid: "order-reason" }, words(order.reason)) : null,
      el("p", {}, "Total: ", el("span", { class: "total", testid: "order-total" }, money(order.total))),
      tickets.length
        ? el("ul", { class: "results", testid: "order-tickets" }, tickets.map((t) =>
          el("li", {}, el("a", { class: "button secondary", href: `/tickets/${encodeURIComponent(t.ticket_id)}`, testid: "ticket-link" },
            `Ticket: ${t.seat || "view"}`))))
        : /complet/i.test(order.status || "") || !/fail|declin|cancel|refund/i.test(order.status || "")
          ? el("p", { class: "notice", testid: "order-pending" }, "Your tickets are on their way: refresh in a moment.")
          : null),
    el("p", {}, el("a", { href: "/orders", testid: "back-orders" }, "All my orders")));
}

/**
 * A click on a link to this server's API (a wallet pass): fetched with the
 * session, since a plain link cannot send it, then opened from memory.
 */
async function withSession(ev) {
  const href = ev.currentTarget.getAttribute("href") || "";
  if (!href.startsWith("/api/")) return;
  ev.preventDefault();
  try {
    const res = await fetch(href, { headers: { Authorization: `Bearer ${sessionToken()}` } });
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    location.assign(URL.createObjectURL(await res.blob()));
  } catch (err) {
    toast(`The pass did not download: ${err.message}`);
  }
}

async function pageTicket() {
  if (!requireLogin()) return;
  const ticketId = pathId();
  title("Ticket");
  try {
    const t = await api("GET", `/api/tickets/${encodeURIComponent(ticketId)}`);
    const show = (t.show_id && (await showDoc(t.show_id))) || {};
    const seat = t.seat || "";
    const wallet = t.wallet || {};
    const qr = el("img", { class: "qr", alt: `QR code of the ticket for ${seat}`, width: 288, height: 288, testid: "ticket-qr" });
    // The code is the owner's only: fetched with the session, shown from memory.
    fetch(t.qr_svg_url || `/api/tickets/${encodeURIComponent(ticketId)}/qr.svg`, { headers: { Authorization: `Bearer ${sessionToken()}` } })
      .then((r) => (r.ok ? r.blob() : Promise.reject(new Error(`HTTP ${r.status}`))))
      .then((b) => { qr.src = URL.createObjectURL(b); })
      .catch((err) => qr.replaceWith(errorBox(err, "ticket-qr-error")));
    render(
      el("h1", {}, "Your ticket"),
      el("section", { class: "card ticket", testid: "ticket" },
        el("h2", { testid: "ticket-show" }, show.title || "Show"),
        el("p", {}, when(show.starts_at), show.venue ? ` · ${show.venue?.name ?? show.venue}` : ""),
        el("p", { class: "seat", testid: "ticket-seat" }, seat),
        qr,
        el("p", { class: "muted" }, "Show this code at the door. One scan admits one person."),
        el("details", {}, el("summary", {}, "Ticket code (for typing in)"),
          el("textarea", { readonly: true, "aria-label": "Ticket code", testid: "ticket-code" }, t.qr_text || "")),
        el("div", { class: "actions wallet" },
          wallet.apple_url ? el("a", { class: "button secondary", href: wallet.apple_url, testid: "wallet-apple", onclick: withSession }, "Add to Apple Wallet") : null,
          wallet.google_url ? el("a", { class: "button secondary", href: wallet.google_url, testid: "wallet-google" }, "Save to Google Wallet") : null)),
      el("p", {}, el("a", { href: `/orders/${encodeURIComponent(t.order_id)}`, testid: "back-order" }, "Back to the order")));
  } catch (err) {
    render(el("h1", {}, "Ticket"), errorBox(err));
  }
}
