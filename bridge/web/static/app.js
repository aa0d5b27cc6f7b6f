/* gridbridge — the page's one script.  Progressive: every page works without it.
   It only (1) asks before a button or link with data-confirm acts, and keeps a step from
   being sent twice; (2) refreshes the visible thumbnails marked data-refresh every minute
   while the page is shown; (3) shows "no picture yet" instead of a broken image.
   Plain ES5-style code: the district's browsers are not always new. */
(function () {
  "use strict";

  var REFRESH_MS = 60 * 1000;

  // (1) Confirm, then send once.
  document.addEventListener("click", function (event) {
    var target = event.target.closest ? event.target.closest("[data-confirm]") : null;
    if (!target) {
      return;
    }
    if (target.getAttribute("aria-disabled") === "true") {
      event.preventDefault();
      return;
    }
    if (!window.confirm(target.getAttribute("data-confirm"))) {
      event.preventDefault();
      return;
    }
    if (target.form) {
      var button = target;
      // Disable after the submit has started, so the browser still sends the button.
      window.setTimeout(function () {
        button.setAttribute("aria-disabled", "true");
      }, 0);
    }
  });

  // (3) A picture that is not there yet: show the words instead of a broken image.
  function missing(img) {
    img.hidden = true;
    var note = img.parentNode && img.parentNode.querySelector(".no-picture");
    if (note) {
      note.hidden = false;
    }
  }

  function watchErrors(img) {
    img.addEventListener("error", function () {
      missing(img);
    });
    if (img.complete && img.naturalWidth === 0 && img.getAttribute("src")) {
      missing(img);
    }
  }

  // (2) Fresh thumbnails, loaded off-screen first so the picture never flickers.
  function visible(img) {
    // The picture's frame: it keeps its place while the picture is hidden (not there yet).
    var box = (img.parentNode || img).getBoundingClientRect();
    return box.bottom > 0 && box.top < window.innerHeight && box.width > 0;
  }

  function refresh(img) {
    var base = img.getAttribute("data-base") || img.getAttribute("src");
    img.setAttribute("data-base", base);
    var next = base + (base.indexOf("?") < 0 ? "?" : "&") + "_=" + Date.now();
    var loader = new Image();
    loader.onload = function () {
      img.src = next;
      img.hidden = false;
      var note = img.parentNode && img.parentNode.querySelector(".no-picture");
      if (note) {
        note.hidden = true;
      }
    };
    loader.src = next;
  }

  function tick() {
    if (document.visibilityState && document.visibilityState !== "visible") {
      return;
    }
    var images = document.querySelectorAll("img[data-refresh]");
    for (var i = 0; i < images.length; i++) {
      if (visible(images[i])) {
        refresh(images[i]);
      }
    }
  }

  function start() {
    var images = document.querySelectorAll("img");
    for (var i = 0; i < images.length; i++) {
      watchErrors(images[i]);
    }
    if (document.querySelector("img[data-refresh]")) {
      window.setInterval(tick, REFRESH_MS);
    }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
