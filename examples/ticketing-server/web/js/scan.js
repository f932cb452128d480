// scan.js: the door scanner: paste or type a ticket's code, see admitted
// or refused.

function pageScan() {
  if (!requireLogin()) return;
  title("Scanner");
  const user = currentUser();
  const code = el("textarea", { id: "code", name: "code", required: true, autocomplete: "off", spellcheck: "false", testid: "scan-code" });
  const submit = el("button", { type: "submit", testid: "scan-submit" }, "Check ticket");
  const verdict = el("div", { "aria-live": "assertive", testid: "scan-result" });
  const history = el("ol", { class: "muted", testid: "scan-history", reversed: true });
  const form = el("form", { class: "card", novalidate: true },
    el("label", { for: "code" }, "Ticket code"), code,
    el("p", { class: "muted" }, "Scan the QR code with a reader that types, or paste the code."),
    el("div", { class: "actions" }, submit));
  const notice = user && user.role !== "scanner" && user.role !== "admin"
    ? el("p", { class: "notice" }, "Only door staff can check tickets: sign in as a scanner.")
    : null;
  render(el("h1", {}, "Scanner"), notice, form, verdict, el("h2", {}, "This session"), history);
  code.focus();
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const text = code.value.trim();
    if (!text) {
      verdict.replaceChildren(el("div", { class: "error", role: "alert" }, "Enter a ticket code."));
      return;
    }
    submit.disabled = true;
    try {
      const r = await api("POST", "/api/scan", { body: { code: text } });
      const ok = Boolean(r.admitted);
      const reason = r.reason ? words(r.reason) : "";
      verdict.replaceChildren(el("div", { class: `verdict ${ok ? "admitted" : "refused"}`, testid: ok ? "scan-admitted" : "scan-refused" },
        ok ? "✔ Admitted" : "✘ Refused", reason ? el("div", { class: "muted", style: "font-size:1rem" }, reason) : null,
        r.seat ? el("div", { style: "font-size:1rem", testid: "scan-seat" }, r.seat) : null,
        !ok && r.detail ? el("div", { class: "muted", style: "font-size:0.9rem;font-weight:400" }, r.detail) : null));
      history.prepend(el("li", {}, `${new Date().toLocaleTimeString()}: ${ok ? "admitted" : `refused${reason ? ` (${reason})` : ""}`}`));
      code.value = "";
    } catch (err) {
      verdict.replaceChildren(errorBox(err, "scan-error"));
    } finally {
      submit.disabled = false;
      code.focus();
    }
  });
}
