// auth.js: the navigation bar, the sign-in page, signing out.

/** Draws the navigation for the signed-in user (or a sign-in link). */
function drawNav(page) {
  const nav = document.getElementById("nav");
  const user = currentUser();
  const link = (href, text, testid, current) =>
    el("a", { href, testid, "aria-current": current ? "page" : null }, text);
  const items = [link("/events", "Events", "nav-events", page === "events")];
  if (user) {
    if (user.role !== "scanner") items.push(link("/orders", "My orders", "nav-orders", page === "orders" || page === "order"));
    if (user.role === "scanner" || user.role === "admin") items.push(link("/scan", "Scanner", "nav-scan", page === "scan"));
    items.push(el("span", { class: "who", testid: "nav-user" }, user.name || user.email));
    items.push(el("button", { type: "button", testid: "nav-logout", onclick: logout }, "Sign out"));
  } else {
    items.push(link("/login", "Sign in", "nav-login", page === "login"));
  }
  nav.replaceChildren(...items);
}

async function logout() {
  try {
    await api("POST", "/api/logout");
  } catch {
    // The session is dropped here whatever the server said.
  }
  clearSession();
  location.assign("/login");
}

/** Sends the signed-out reader to sign in; true when signed in. */
function requireLogin() {
  if (sessionToken()) return true;
  toLogin();
  return false;
}

/** Where to go after signing in: `next` when it is a path on this site. */
function nextPath() {
  const next = new URLSearchParams(location.search).get("next") || "/events";
  return next.startsWith("/") && !next.startsWith("//") ? next : "/events";
}

const DEMO_USERS = [
  ["alice@example.com", "alice-demo", "buyer"],
  ["bob@example.com", "bob-demo", "buyer"],
  ["scanner@example.com", "scanner-demo", "scanner"],
  ["admin@example.com", "admin-demo", "admin"],
];

function pageLogin() {
  title("Sign in");
  const email = el("input", { id: "email", type: "email", name: "email", autocomplete: "username", required: true, testid: "login-email" });
  const password = el("input", { id: "password", type: "password", name: "password", autocomplete: "current-password", required: true, testid: "login-password" });
  const status = el("div", { "aria-live": "polite" });
  const submit = el("button", { type: "submit", testid: "login-submit" }, "Sign in");
  const form = el("form", { class: "card", novalidate: true, "aria-labelledby": "login-title" },
    el("h1", { id: "login-title" }, "Sign in"),
    el("label", { for: "email" }, "Email"), email,
    el("label", { for: "password" }, "Password"), password,
    status,
    el("div", { class: "actions" }, submit));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    status.replaceChildren();
    if (!email.value || !password.value) {
      status.append(el("div", { class: "error", role: "alert", testid: "login-error" }, "Enter your email and password."));
      return;
    }
    submit.disabled = true;
    try {
      const res = await api("POST", "/api/login", { body: { email: email.value.trim(), password: password.value }, auth: false });
      saveSession(res.token, res.user);
      location.assign(nextPath());
    } catch (err) {
      status.append(errorBox(err, "login-error"));
      submit.disabled = false;
    }
  });
  const demo = el("section", { class: "card", "aria-labelledby": "demo-title" },
    el("h2", { id: "demo-title" }, "Demo accounts"),
    el("p", { class: "muted" }, "Pick one to fill in the form."),
    el("ul", { class: "results" }, DEMO_USERS.map(([e, p, role]) =>
      el("li", {}, el("button", {
        type: "button", class: "secondary", testid: `demo-${role}-${e.split("@")[0]}`,
        onclick: () => { email.value = e; password.value = p; submit.focus(); },
      }, `${e} (${role})`)))));
  render(el("div", { class: "grid two" }, form, demo));
  email.focus();
}
