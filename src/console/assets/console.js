// The console's own script, on top of htmx. Pages work without it where they can; with it:
// - every htmx request carries the session's CSRF token (the page's <body data-csrf>);
// - the rules editor numbers its lines, marks the lines that have diagnostics, jumps to a
//   diagnostic's place when it is clicked, and keeps the draft in this browser between
//   visits (localStorage, per customer and published version).
(function () {
  "use strict";

  document.addEventListener("htmx:configRequest", function (event) {
    var token = document.body.dataset.csrf;
    if (token) {
      event.detail.headers["X-CSRF-Token"] = token;
    }
  });

  // A form that asks first (a rollback): `data-confirm` is the question.
  document.addEventListener("submit", function (event) {
    var question = event.target.dataset && event.target.dataset.confirm;
    if (question && !window.confirm(question)) {
      event.preventDefault();
    }
  });

  function draftKey(form) {
    return "canon-draft:" + form.dataset.tenant + ":" + form.dataset.published;
  }

  function markedLines() {
    var marks = {};
    document.querySelectorAll("#diagnostics [data-line]").forEach(function (item) {
      var line = Number(item.dataset.line);
      var severity = item.classList.contains("error") ? "error" : "warning";
      if (marks[line] !== "error") {
        marks[line] = severity;
      }
    });
    return marks;
  }

  function renderGutter(textarea, gutter) {
    var lines = textarea.value.split("\n").length;
    var marks = markedLines();
    var html = "";
    for (var i = 1; i <= lines; i++) {
      var mark = marks[i];
      html += mark ? '<span class="' + mark + '" data-line="' + i + '">' + i + "</span>\n" : i + "\n";
    }
    gutter.innerHTML = html;
    gutter.scrollTop = textarea.scrollTop;
  }

  function goTo(textarea, line, column) {
    var lines = textarea.value.split("\n");
    var offset = 0;
    for (var i = 0; i < line - 1 && i < lines.length; i++) {
      offset += lines[i].length + 1;
    }
    offset += Math.max(0, (column || 1) - 1);
    textarea.focus();
    textarea.setSelectionRange(offset, offset);
    var lineHeight = parseFloat(getComputedStyle(textarea).lineHeight) || 18;
    textarea.scrollTop = Math.max(0, (line - 4) * lineHeight);
  }

  function setupEditor() {
    var form = document.getElementById("draft-form");
    if (!form) {
      return;
    }
    var textarea = document.getElementById("draft");
    var gutter = form.querySelector(".gutter");
    var published = document.getElementById("published-text").value;
    var state = document.getElementById("draft-state");
    var discard = document.getElementById("discard-draft");
    var key = draftKey(form);

    function showState() {
      var same = textarea.value === published;
      state.textContent = same ? "Same as published" : "Draft (kept in this browser until published or discarded)";
      discard.hidden = same;
    }

    // Just published or rolled back: drafts kept for older published versions are stale.
    if (form.dataset.forgetOlder) {
      try {
        var prefix = "canon-draft:" + form.dataset.tenant + ":";
        for (var i = window.localStorage.length - 1; i >= 0; i--) {
          var name = window.localStorage.key(i);
          if (name && name.indexOf(prefix) === 0 && name !== key) {
            window.localStorage.removeItem(name);
          }
        }
      } catch (e) {
        // Nothing kept, nothing to forget.
      }
    }

    var saved = null;
    try {
      saved = window.localStorage.getItem(key);
    } catch (e) {
      saved = null;
    }
    if (saved !== null && saved !== published) {
      textarea.value = saved;
    }
    renderGutter(textarea, gutter);
    showState();

    textarea.addEventListener("input", function () {
      renderGutter(textarea, gutter);
      showState();
      try {
        if (textarea.value === published) {
          window.localStorage.removeItem(key);
        } else {
          window.localStorage.setItem(key, textarea.value);
        }
      } catch (e) {
        // A browser that keeps nothing still edits.
      }
    });
    textarea.addEventListener("scroll", function () {
      gutter.scrollTop = textarea.scrollTop;
    });
    textarea.addEventListener("keydown", function (event) {
      // Tab indents rather than leaving the editor.
      if (event.key === "Tab" && !event.shiftKey && !event.ctrlKey && !event.metaKey) {
        event.preventDefault();
        var start = textarea.selectionStart;
        textarea.setRangeText("  ", start, textarea.selectionEnd, "end");
        textarea.dispatchEvent(new Event("input", { bubbles: true }));
      }
    });
    discard.addEventListener("click", function () {
      textarea.value = published;
      textarea.dispatchEvent(new Event("input", { bubbles: true }));
    });
    document.body.addEventListener("htmx:afterSwap", function (event) {
      if (event.detail.target && event.detail.target.id === "diagnostics") {
        renderGutter(textarea, gutter);
      }
    });
    document.body.addEventListener("click", function (event) {
      var link = event.target.closest("#diagnostics .goto");
      if (link) {
        event.preventDefault();
        var item = link.closest("[data-line]");
        goTo(textarea, Number(item.dataset.line), Number(item.dataset.column));
      }
    });
    // Check what is in the editor now (a restored draft included).
    if (window.htmx) {
      window.htmx.trigger(textarea, "check-draft");
    }
  }

  // After htmx has set up the page (its own DOMContentLoaded handler was added first).
  if (document.readyState === "complete") {
    setupEditor();
  } else {
    document.addEventListener("DOMContentLoaded", setupEditor);
  }
})();
