// The web front end, end to end, in headless Chromium.
//
// A buyer signs in, searches, opens a show, joins the waiting room and is
// let in, picks a seat on the map, holds it, pays and sees the ticket with
// its QR code; a second buyer watching the same show sees the seat turn
// held, then sold, live (no reload). Door staff then scan the ticket: once
// admitted, then refused. Every main page is saved as a screenshot.
//
// Environment: BASE_URL (the running server, required), CHROMIUM (default
// /usr/bin/chromium), SCREENSHOT_DIR (default target/screenshots).
// Prints one line per step and a closing "browser: N passed, N failed".

import { chromium } from "playwright-core";
import { mkdirSync } from "node:fs";
import { join } from "node:path";

const BASE = process.env.BASE_URL;
if (!BASE) {
  console.error("BASE_URL is not set");
  process.exit(2);
}
const SHOTS = process.env.SCREENSHOT_DIR || "target/screenshots";
mkdirSync(SHOTS, { recursive: true });
const WAIT = 30_000;

const USERS = {
  alice: ["alice@example.com", "alice-demo"],
  bob: ["bob@example.com", "bob-demo"],
  scanner: ["scanner@example.com", "scanner-demo"],
};

let passed = 0;
let failed = 0;
const problems = [];

/** Runs one named step; the first failure stops the run. */
async function step(name, fn) {
  const t0 = Date.now();
  try {
    await fn();
    passed += 1;
    console.log(`ok   ${name} (${Date.now() - t0} ms)`);
  } catch (err) {
    failed += 1;
    console.log(`FAIL ${name}: ${err && err.message ? err.message.split("\n").slice(0, 6).join("\n     ") : err}`);
    throw err;
  }
}

function check(cond, msg) {
  if (!cond) throw new Error(msg);
}

async function shot(page, name) {
  await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
}

/** A page that records uncaught script errors and failed API calls. */
async function newPage(browser, options, who) {
  const context = await browser.newContext({ baseURL: BASE, ...options });
  const page = await context.newPage();
  page.on("pageerror", (e) => problems.push(`${who}: script error: ${e.message}`));
  page.on("console", (m) => {
    if (m.type() === "error" && !/status of 4\d\d/.test(m.text())) problems.push(`${who}: console: ${m.text()}`);
  });
  page.on("response", (r) => {
    if (r.status() >= 500) problems.push(`${who}: ${r.status()} from ${r.request().method()} ${r.url()}`);
  });
  return page;
}

async function signIn(page, who) {
  const [email, password] = USERS[who];
  await page.goto("/login");
  await page.getByTestId("login-email").fill(email);
  await page.getByTestId("login-password").fill(password);
  await page.getByTestId("login-submit").click();
  await page.waitForURL((u) => !u.pathname.startsWith("/login"), { timeout: WAIT });
  await page.getByTestId("nav-user").waitFor();
}

/** The first show on sale with seats and a waiting room, from the API. */
async function pickShow() {
  const res = await fetch(`${BASE}/api/events?limit=50`);
  check(res.ok, `GET /api/events answered ${res.status}`);
  const { results } = await res.json();
  for (const ev of results || []) {
    for (const s of ev.shows || []) {
      if (!["on_sale", "selling_fast"].includes(s.availability)) continue;
      const detail = await (await fetch(`${BASE}/api/shows/${encodeURIComponent(s.show_id)}`)).json();
      const map = await fetch(`${BASE}/api/shows/${encodeURIComponent(s.show_id)}/seatmap.svg`);
      if (detail.waiting_room?.enabled && map.ok && (await map.text()).includes("<use ")) return { event: ev, show: s };
    }
  }
  throw new Error("no event has a show on sale with seats and a waiting room");
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  headless: true,
  // Playwright gives every launch a fresh, temporary user data dir.
  args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--no-first-run"],
});

const phone = { viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true };
const desktop = { viewport: { width: 1280, height: 900 } };
let exitCode = 0;
try {
  const alice = await newPage(browser, phone, "alice");
  const bob = await newPage(browser, desktop, "bob");
  let target;
  let seatTestId;
  let orderUrl;
  let ticketCode;

  await step("the sign-in page renders and signs alice in", async () => {
    await alice.goto("/login");
    await alice.getByTestId("login-email").waitFor();
    await shot(alice, "01-login");
    await signIn(alice, "alice");
    check(new URL(alice.url()).pathname === "/events", `after sign-in the page is ${alice.url()}`);
  });

  await step("search finds the event and links its show", async () => {
    target = await pickShow();
    const word = target.event.title.split(/\s+/).find((w) => w.length > 3) || target.event.title;
    await alice.getByTestId("search-input").fill(word);
    await alice.getByTestId("search-submit").click();
    const card = alice.getByTestId("event-result").filter({ hasText: target.event.title });
    await card.first().waitFor({ timeout: WAIT });
    check(new URL(alice.url()).searchParams.get("q") === word, "the search is not in the address");
    await shot(alice, "02-events-search");
    await alice.getByTestId(`show-link-${target.show.show_id}`).click();
    await alice.waitForURL(`**/shows/${target.show.show_id}`);
    await alice.getByTestId("show-title").waitFor();
    await alice.locator('[data-testid="seatmap"] svg').waitFor({ timeout: WAIT });
  });

  await step("bob watches the same show's live map", async () => {
    await signIn(bob, "bob");
    await bob.goto(`/shows/${target.show.show_id}`);
    await bob.locator('[data-testid="seatmap"][data-live="on"]').waitFor({ timeout: WAIT });
  });

  await step("alice joins the waiting room and is let in", async () => {
    const join = alice.getByTestId("queue-join");
    const admitted = alice.getByTestId("queue-admitted");
    await join.waitFor({ timeout: WAIT });
    check(!(await admitted.isVisible()), "alice was let in before joining the queue");
    check((await alice.locator('[data-testid="seatmap"] use.pickable').count()) === 0, "seats are pickable before the queue let alice in");
    await join.click();
    await alice.getByTestId("queue-position").or(admitted).first().waitFor({ timeout: WAIT });
    await shot(alice, "03-waiting-room");
    await admitted.waitFor({ timeout: WAIT });
    await alice.locator('[data-testid="seatmap"] use.pickable').first().waitFor({ timeout: WAIT });
    await shot(alice, "04-show-admitted");
  });

  await step("alice zooms the map, picks an available seat and holds it", async () => {
    const svg = alice.locator('[data-testid="seatmap"] svg');
    const before = (await svg.boundingBox()).width;
    await alice.getByTestId("map-zoom-in").click();
    await alice.getByTestId("map-zoom-in").click();
    const after = (await svg.boundingBox()).width;
    check(after > before * 1.9, `zooming in twice made the map ${before} -> ${after} px wide`);
    const seat = alice.locator('[data-testid="seatmap"] use.pickable[data-state="a"]').first();
    seatTestId = await seat.getAttribute("data-testid");
    await seat.click();
    const picked = alice.getByTestId(seatTestId);
    check((await picked.getAttribute("class")).includes("picked"), "the clicked seat is not marked as picked");
    check((await alice.getByTestId("picked-seat").count()) === 1, "the picked list does not show one seat");
    const subtotal = await alice.getByTestId("picked-subtotal").textContent();
    check(/^1 seat: .*\d.* before fees$/.test(subtotal), `the subtotal reads "${subtotal}"`);
    await alice.getByTestId(seatTestId).scrollIntoViewIfNeeded();
    await alice.screenshot({ path: join(SHOTS, "05-seat-picked.png") });
    await alice.getByTestId("hold-selected").click();
    await alice.getByTestId("hold-countdown").waitFor({ timeout: WAIT });
    const left = await alice.getByTestId("hold-countdown").textContent();
    check(/^\d+:\d\d$/.test(left) && left !== "0:00", `the countdown reads ${left}`);
    await alice.getByTestId("hold-extend").click();
    await alice.getByTestId("toast").filter({ hasText: "Hold extended" }).waitFor({ timeout: WAIT });
    await alice.waitForFunction((id) => document.querySelector(`[data-testid="${id}"]`).getAttribute("href") === "#y", seatTestId);
    await shot(alice, "06-hold-checkout");
  });

  await step("a reload keeps alice's hold, its countdown and her seat", async () => {
    await alice.reload();
    await alice.getByTestId("hold-countdown").waitFor({ timeout: WAIT });
    await alice.waitForFunction((id) => document.querySelector(`[data-testid="${id}"]`)?.getAttribute("href") === "#y", seatTestId, { timeout: WAIT });
    check((await alice.getByTestId("held-seats").locator("li").count()) === 1, "the reloaded page does not list the held seat");
  });

  await step("bob sees the seat turn held, live", async () => {
    await bob.waitForFunction((id) => document.querySelector(`[data-testid="${id}"]`)?.dataset.state === "h", seatTestId, { timeout: WAIT });
  });

  await step("alice pays with the test card and sees the confirmation", async () => {
    await alice.getByTestId("checkout-card").fill("4242 4242 4242 4242");
    await alice.getByTestId("checkout-pay").click();
    await alice.waitForURL("**/orders/**", { timeout: WAIT });
    orderUrl = alice.url();
    await alice.getByTestId("ticket-link").first().waitFor({ timeout: WAIT });
    check((await alice.getByTestId("ticket-link").count()) === 1, "the order does not have exactly one ticket");
    await shot(alice, "07-order-confirmation");
  });

  await step("bob sees the seat turn sold, live", async () => {
    await bob.waitForFunction((id) => document.querySelector(`[data-testid="${id}"]`)?.dataset.state === "s", seatTestId, { timeout: WAIT });
    const href = await bob.getByTestId(seatTestId).getAttribute("href");
    check(href === "#s", `bob's seat is drawn as ${href}`);
    const title = await bob.getByTestId(seatTestId).locator("title").textContent();
    check(/sold/.test(title), `bob's seat title reads "${title}"`);
    await shot(bob, "08-watcher-sold-live");
  });

  /** Bob's seats as his map draws them (`#y`): their test ids. */
  const bobsSeats = () => bob.locator('[data-testid="seatmap"] use[data-state="y"]').evaluateAll((uses) => uses.map((u) => u.dataset.testid));
  const allAvailable = (page, ids) =>
    page.waitForFunction((list) => list.every((id) => document.querySelector(`[data-testid="${id}"]`)?.dataset.state === "a"), ids, { timeout: WAIT });

  await step("bob picks and unpicks a seat with the keyboard", async () => {
    const join = bob.getByTestId("queue-join");
    const admitted = bob.getByTestId("queue-admitted");
    await join.or(admitted).first().waitFor({ timeout: WAIT });
    if (await join.isVisible()) await join.click();
    await admitted.waitFor({ timeout: WAIT });
    const seat = bob.locator('[data-testid="seatmap"] use.pickable[data-state="a"]').nth(5);
    await seat.focus();
    await bob.keyboard.press("Enter");
    check((await seat.getAttribute("aria-pressed")) === "true", "Enter did not pick the focused seat");
    check((await bob.getByTestId("picked-seat").count()) === 1, "the picked list does not show the seat");
    await bob.keyboard.press(" ");
    check((await seat.getAttribute("aria-pressed")) === "false", "Space did not unpick the seat");
    check((await bob.getByTestId("picked-seat").count()) === 0, "the picked list still shows the seat");
  });

  await step("bob holds the best 2 seats, then releases them", async () => {
    await bob.getByTestId("best-quantity").selectOption("2");
    await bob.getByTestId("hold-best").click();
    await bob.getByTestId("hold-countdown").waitFor({ timeout: WAIT });
    const ids = await bobsSeats();
    check(ids.length === 2, `bob's map marks ${ids.length} seats as his, not 2`);
    await alice.goto(`/shows/${target.show.show_id}`);
    await alice.waitForFunction((list) => list.every((id) => document.querySelector(`[data-testid="${id}"]`)?.dataset.state === "h"), ids, { timeout: WAIT });
    await bob.getByTestId("hold-release").click();
    await bob.getByTestId("hold-ended").waitFor({ timeout: WAIT });
    check((await bobsSeats()).length === 0, "bob's map still marks seats as his");
    await allAvailable(alice, ids);
  });

  await step("bob's declined card ends his best-available hold and frees its seats", async () => {
    await bob.getByTestId("best-quantity").selectOption("2");
    await bob.getByTestId("hold-best").click();
    await bob.getByTestId("hold-countdown").waitFor({ timeout: WAIT });
    check((await bob.getByTestId("held-seats").locator("li").count()) === 2, "best available did not hold 2 seats");
    const hisIds = await bobsSeats();
    check(hisIds.length === 2, "bob's map does not mark 2 seats as his");
    await bob.getByTestId("checkout-card").fill("4000 0000 0000 0002");
    await bob.getByTestId("checkout-pay").click();
    await bob.getByTestId("checkout-declined").waitFor({ timeout: WAIT });
    check(new URL(bob.url()).pathname.startsWith("/shows/"), "a declined payment left the show page");
    check((await bobsSeats()).length === 0, "bob's map still marks seats as his");
    // The declined order released its seats: they are for sale again.
    await allAvailable(bob, hisIds);
    await shot(bob, "09-declined");
  });

  await step("the ticket shows its QR code and Google and Apple Wallet links", async () => {
    await alice.goto(orderUrl);
    await alice.getByTestId("ticket-link").first().click();
    await alice.waitForURL("**/tickets/**");
    await alice.waitForFunction(() => {
      const img = document.querySelector('[data-testid="ticket-qr"]');
      return img && img.complete && img.naturalWidth > 0;
    }, null, { timeout: WAIT });
    ticketCode = (await alice.getByTestId("ticket-code").inputValue()).trim();
    check(ticketCode.length > 10, "the ticket has no code");
    check((await alice.getByTestId("ticket-seat").textContent()).trim().length > 0, "the ticket names no seat");
    const google = await alice.getByTestId("wallet-google").getAttribute("href");
    check(/^https:\/\/pay\.google\.com\/gp\/v\/save\/[\w-]+\.[\w-]+\.[\w-]+$/.test(google), `the Google Wallet link is ${google}`);
    const ticketId = new URL(alice.url()).pathname.split("/")[2];
    const apple = await alice.getByTestId("wallet-apple").getAttribute("href");
    check(apple === `/api/tickets/${ticketId}/wallet.pkpass`, `the Apple Wallet link is ${apple}`);
    await shot(alice, "10-ticket");
  });

  await step("my orders lists the order", async () => {
    await alice.getByTestId("nav-orders").click();
    await alice.getByTestId("order-row").first().waitFor({ timeout: WAIT });
    const id = new URL(orderUrl).pathname.split("/")[2];
    check((await alice.getByTestId(`order-link-${id}`).count()) === 1, "the new order is not listed");
    await shot(alice, "11-my-orders");
  });

  await step("the scanner admits the ticket once, then refuses it", async () => {
    const door = await newPage(browser, phone, "scanner");
    await signIn(door, "scanner");
    await door.goto("/scan");
    await door.getByTestId("scan-code").fill(ticketCode);
    await door.getByTestId("scan-submit").click();
    await door.getByTestId("scan-admitted").waitFor({ timeout: WAIT });
    await shot(door, "12-scan-admitted");
    await door.getByTestId("scan-code").fill(ticketCode);
    await door.getByTestId("scan-submit").click();
    await door.getByTestId("scan-refused").waitFor({ timeout: WAIT });
    await shot(door, "13-scan-refused");
  });

  await step("no page had a script error or a 5xx answer", async () => {
    check(problems.length === 0, problems.join("; "));
  });
} catch {
  exitCode = 1;
} finally {
  await browser.close();
}
if (failed === 0 && passed === 0) exitCode = 1;
console.log(`browser: ${passed} passed, ${failed} failed`);
process.exit(exitCode || (failed ? 1 : 0));
