// main.js: draws the page the server named in <body data-page>.

const PAGES = {
  events: pageEvents,
  login: pageLogin,
  show: pageShow,
  orders: pageOrders,
  order: pageOrder,
  ticket: pageTicket,
  scan: pageScan,
};

function start() {
  const page = document.body.dataset.page || "events";
  drawNav(page);
  const draw = PAGES[page] || pageEvents;
  Promise.resolve(draw()).catch((err) => render(errorBox(err)));
}

if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
else start();
