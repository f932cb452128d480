// events.js: the events page, with search.

/** How many places a show has left, in words. */
function availability(show) {
  const word = show.availability || "";
  if (word === "sold_out" || show.available === 0) return el("span", { class: "badge sold" }, "Sold out");
  if (word === "upcoming") return el("span", { class: "badge" }, "Soon on sale");
  if (word === "sales_ended") return el("span", { class: "badge sold" }, "Sales ended");
  const n = show.available;
  const text = n === undefined || n === null ? "On sale" : `${n} left`;
  return el("span", { class: word === "selling_fast" ? "badge bad" : "badge" }, word === "selling_fast" ? `Selling fast · ${text}` : text);
}

function showItem(show) {
  return el("li", {},
    el("span", {}, when(show.starts_at), show.from_price ? el("div", { class: "muted" }, `from ${money(show.from_price)}`) : null),
    el("span", {},
      availability(show), " ",
      el("a", {
        class: "button secondary", href: `/shows/${encodeURIComponent(show.show_id)}`,
        "aria-label": `Tickets for ${when(show.starts_at)}`, testid: `show-link-${show.show_id}`,
      }, "Tickets")));
}

function eventCard(ev) {
  const venue = typeof ev.venue === "object" && ev.venue ? ev.venue.name : ev.venue;
  return el("li", { class: "card", testid: "event-result", dataset: { eventId: ev.event_id } },
    el("h2", {}, ev.title),
    el("p", { class: "muted" }, [venue, ev.city, ...(ev.categories || [])].filter(Boolean).join(" · ")),
    el("ul", { class: "shows", "aria-label": `Shows of ${ev.title}` }, (ev.shows || []).map(showItem)));
}

async function pageEvents() {
  title("Events");
  const params = new URLSearchParams(location.search);
  const q = el("input", { id: "q", type: "search", name: "q", value: params.get("q") || "", placeholder: "Artist, event, venue…", testid: "search-input" });
  const city = el("input", { id: "city", type: "text", name: "city", value: params.get("city") || "", placeholder: "Any city", testid: "search-city" });
  const wanted = params.get("category") || "";
  const category = el("select", { id: "category", name: "category", testid: "search-category" },
    el("option", { value: "" }, "Any category"),
    wanted ? el("option", { value: wanted, selected: true }, wanted) : null);
  const form = el("form", { role: "search", class: "card", action: "/events" },
    el("div", { class: "row" },
      el("div", { class: "grow" }, el("label", { for: "q" }, "Search events"), q),
      el("div", { class: "grow" }, el("label", { for: "city" }, "City"), city),
      el("div", { class: "grow" }, el("label", { for: "category" }, "Category"), category),
      el("button", { type: "submit", testid: "search-submit" }, "Search")));
  // The categories on offer, from the whole listing.
  api("GET", "/api/events?limit=100").then((res) => {
    const all = new Set((res.results || []).flatMap((ev) => ev.categories || []));
    all.delete(wanted);
    category.append(...[...all].sort().map((c) => el("option", { value: c }, c)));
  }).catch(() => {});
  const list = el("div", { "aria-live": "polite", testid: "search-results" }, el("p", { class: "loading" }, "Loading…"));
  render(el("h1", {}, "Events"), form, list);
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const next = new URLSearchParams();
    if (q.value.trim()) next.set("q", q.value.trim());
    if (city.value.trim()) next.set("city", city.value.trim());
    if (category.value) next.set("category", category.value);
    history.replaceState(null, "", next.toString() ? `/events?${next}` : "/events");
    load();
  });
  let cursor = null;
  let results = [];
  async function load(more = false) {
    const query = new URLSearchParams();
    if (q.value.trim()) query.set("q", q.value.trim());
    if (city.value.trim()) query.set("city", city.value.trim());
    if (category.value) query.set("category", category.value);
    query.set("limit", "20");
    if (more && cursor) query.set("cursor", cursor);
    try {
      const res = await api("GET", `/api/events?${query}`);
      results = more ? results.concat(res.results || []) : res.results || [];
      cursor = res.next_cursor || res.cursor || null;
      const items = results.map(eventCard);
      const nodes = [];
      if (items.length === 0) nodes.push(el("p", { class: "notice", testid: "no-results" }, "No events match. Try another search."));
      else nodes.push(el("p", { class: "muted", testid: "result-count" }, `${results.length} event${results.length === 1 ? "" : "s"}`), el("ul", { class: "results" }, items));
      if (cursor && (res.results || []).length > 0) {
        nodes.push(el("div", { class: "actions" }, el("button", { type: "button", class: "secondary", testid: "search-more", onclick: () => load(true) }, "More events")));
      }
      list.replaceChildren(...nodes);
    } catch (err) {
      list.replaceChildren(errorBox(err));
    }
  }
  await load();
}
