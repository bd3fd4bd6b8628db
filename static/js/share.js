// The share page's link controls (progressive enhancement: without this file the link is
// still there to select and copy, and the QR code to scan). Loaded by sharing/detail.html.
(function () {
  "use strict";

  function status(id, key) {
    var node = document.querySelector('[data-copy-status="' + id + '"]');
    if (node) {
      node.textContent = node.getAttribute(key);
    }
  }

  function copyWithSelection(field) {
    field.focus();
    field.select();
    try {
      return document.execCommand("copy");
    } catch (error) {
      return false;
    }
  }

  function copy(button) {
    var id = button.getAttribute("data-copy");
    var field = document.getElementById(id);
    var fallback = function () {
      status(id, copyWithSelection(field) ? "data-copied" : "data-failed");
    };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(field.value).then(function () {
        status(id, "data-copied");
      }, fallback);
    } else {
      fallback();
    }
  }

  function share(button) {
    var field = document.getElementById(button.getAttribute("data-share"));
    navigator.share({ url: field.value }).catch(function () {
      // Cancelled by the person, or refused by the system: the link is still on the page.
    });
  }

  function openQr(button) {
    var dialog = document.getElementById(button.getAttribute("data-qr-open"));
    var holder = dialog.querySelector("[data-qr-image]");
    if (!holder.firstChild) {
      // The page's own QR image, enlarged (not a second copy of it in the HTML).
      var image = document.getElementById(holder.getAttribute("data-qr-image")).cloneNode();
      image.removeAttribute("id");
      image.removeAttribute("class");
      holder.appendChild(image);
    }
    dialog.showModal();
    dialog.querySelector("[data-qr-close]").focus();
    // Escape closes a modal dialog by itself; the focus goes back to the button either way.
    dialog.addEventListener("close", function () { button.focus(); }, { once: true });
  }

  function enhance() {
    var canCopy = (navigator.clipboard && window.isSecureContext) ||
      (document.queryCommandSupported && document.queryCommandSupported("copy"));
    document.querySelectorAll("[data-copy]").forEach(function (button) {
      button.hidden = !canCopy;
      button.addEventListener("click", function () { copy(button); });
    });
    document.querySelectorAll("[data-share]").forEach(function (button) {
      var field = document.getElementById(button.getAttribute("data-share"));
      var possible = typeof navigator.share === "function" &&
        (!navigator.canShare || navigator.canShare({ url: field.value }));
      button.hidden = !possible;
      button.addEventListener("click", function () { share(button); });
    });
    document.querySelectorAll("[data-qr-open]").forEach(function (button) {
      var dialog = document.getElementById(button.getAttribute("data-qr-open"));
      button.hidden = !(dialog && typeof dialog.showModal === "function");
      button.addEventListener("click", function () { openQr(button); });
    });
    document.querySelectorAll("[data-qr-close]").forEach(function (button) {
      button.addEventListener("click", function () { button.closest("dialog").close(); });
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", enhance);
  } else {
    enhance();
  }
})();
