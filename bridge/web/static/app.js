/* gridbridge — the page's one script.  Progressive: every page works without it.
   It only (1) asks before a button or link with data-confirm acts, and keeps a step from
   being sent twice; (2) refreshes the visible thumbnails marked data-refresh every minute
   while the page is shown; (3) shows "no picture yet" instead of a broken image; (4) on the
   live view (data-live), says why the stream failed and offers to go on watching.
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
    if (img.hasAttribute("data-live-img")) {
      return; // the live view says more than "no picture" (4)
    }
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

  // (4) The live view: an <img> showing /api/cameras/{id}/live.mjpeg.  When it fails, the
  // same URL asked again answers the reason as JSON ({"error": "中文 / English"}: 503 the
  // limit of streams reached, 502 the camera's stream failed); it is shown in the page's
  // language.  The daemon ends a viewing after data-max-s seconds: a little before, the
  // stream is let go here and 继续观看 offered (a fresh viewing, a fresh limit).
  function startLive(box) {
    var img = box.querySelector("[data-live-img]");
    var message = box.querySelector("[data-live-message]");
    var text = box.querySelector("[data-live-text]");
    var resume = box.querySelector("[data-live-resume]");
    if (!img || !message || !text || !resume) {
      return;
    }
    var frame = img.parentNode;
    var src = img.getAttribute("src");
    var maxMs = Math.max(10, parseInt(box.getAttribute("data-max-s"), 10) - 3) * 1000;
    var english = box.getAttribute("data-lang") === "en";
    var stopped = false;
    var timer = null;

    function say(words) {
      text.textContent = words;
      message.hidden = false;
    }

    function inLanguage(error) {
      var parts = String(error).split(" / ");
      if (parts.length < 2) {
        return parts[0];
      }
      return english ? parts.slice(1).join(" / ") : parts[0];
    }

    function stop() {
      stopped = true;
      frame.hidden = true; // the message takes its place, at the top
      if (timer !== null) {
        window.clearTimeout(timer);
        timer = null;
      }
      img.removeAttribute("src"); // closes the stream: the daemon frees it for others
    }

    function play() {
      stopped = false;
      message.hidden = true;
      frame.hidden = false;
      img.setAttribute("src", src + (src.indexOf("?") < 0 ? "?" : "&") + "_=" + Date.now());
      timer = window.setTimeout(function () {
        stop();
        say(box.getAttribute("data-ended"));
      }, maxMs);
    }

    function failed() {
      if (stopped) {
        return;
      }
      stop();
      say(box.getAttribute("data-failed"));
      if (!window.fetch) {
        return;
      }
      var controller = window.AbortController ? new AbortController() : null;
      window.fetch(src, {
        credentials: "same-origin",
        headers: { Accept: "application/json" },
        signal: controller ? controller.signal : undefined
      }).then(function (response) {
        if (response.ok) {
          if (controller) {
            controller.abort(); // it streams again: do not hold a stream we do not show
          }
          return null;
        }
        return response.json();
      }).then(function (body) {
        if (body && body.error) {
          say(inLanguage(body.error));
        }
      })["catch"](function () {
        // no answer at all: the general words stay
      });
    }

    img.addEventListener("error", failed);
    resume.addEventListener("click", play);
    if (img.complete && img.naturalWidth === 0) {
      failed(); // it failed before this script ran
    }
    timer = window.setTimeout(function () {
      stop();
      say(box.getAttribute("data-ended"));
    }, maxMs);
  }

  function start() {
    var images = document.querySelectorAll("img");
    for (var i = 0; i < images.length; i++) {
      watchErrors(images[i]);
    }
    if (document.querySelector("img[data-refresh]")) {
      window.setInterval(tick, REFRESH_MS);
    }
    var lives = document.querySelectorAll("[data-live]");
    for (var j = 0; j < lives.length; j++) {
      startLive(lives[j]);
    }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
