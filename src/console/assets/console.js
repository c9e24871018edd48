// The console's own script, on top of htmx: every htmx request carries the session's CSRF
// token (the page's <body data-csrf>).
document.addEventListener("htmx:configRequest", function (event) {
  var token = document.body.dataset.csrf;
  if (token) {
    event.detail.headers["X-CSRF-Token"] = token;
  }
});
