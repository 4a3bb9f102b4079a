// The label kiosk (templates/web/kiosk.html). On the idle screen the job-number field keeps the
// focus, so a keyboard-wedge scanner (which types the job id, then Enter) always reaches it, and
// the on-screen keys type into it. The job screen, and the idle screen with a message, go back
// to the plain idle screen (GET /kiosk, which shows no patient data) after data-idle-seconds
// without a touch or a key.
"use strict";
(function () {
  const body = document.body;
  const field = document.getElementById("job_id");

  if (field) {
    const focus = function () { field.focus(); };
    focus();
    window.addEventListener("focus", focus);
    // A touch anywhere that is not another control gives the focus back to the field.
    document.addEventListener("pointerup", function (event) {
      if (!event.target.closest("button, a, input")) { focus(); }
    });
    const keys = document.querySelector(".keys");
    // The keys never take the focus from the field.
    keys.addEventListener("pointerdown", function (event) {
      if (event.target.closest("button")) { event.preventDefault(); }
    });
    keys.addEventListener("click", function (event) {
      const key = event.target.closest("button");
      if (!key) { return; }
      const value = key.dataset.key;
      if (value === "back") {
        field.value = field.value.slice(0, -1);
      } else if (value === "clear") {
        field.value = "";
      } else if (field.value.length < field.maxLength) {
        field.value += value;
      }
      focus();
    });
  }

  // A print button is pressed once: a second touch while the page loads prints nothing more.
  document.addEventListener("submit", function (event) {
    const press = event.target.querySelector("button[type=submit]");
    if (press && event.target.action.endsWith("/kiosk/reprint")) {
      window.setTimeout(function () { press.disabled = true; }, 0);
    }
  });

  // The plain idle screen loads itself again every few minutes while nobody uses it: the
  // kiosk stays signed in (a touch screen has no keyboard to sign in again with). An
  // administrator ends it by disabling the kiosk user.
  if (body.dataset.screen === "idle" && body.dataset.return !== "yes") {
    let quiet = 0;
    const again = function () {
      window.clearTimeout(quiet);
      quiet = window.setTimeout(function () { window.location.assign("/kiosk"); },
                                (Number(body.dataset.keepSeconds) || 240) * 1000);
    };
    for (const kind of ["pointerdown", "keydown", "touchstart", "input"]) {
      document.addEventListener(kind, again, {passive: true, capture: true});
    }
    again();
  }

  if (body.dataset.return === "yes") {
    const seconds = Number(body.dataset.idleSeconds) || 60;
    let timer = 0;
    const arm = function () {
      window.clearTimeout(timer);
      timer = window.setTimeout(function () { window.location.assign("/kiosk"); },
                                seconds * 1000);
    };
    for (const kind of ["pointerdown", "keydown", "touchstart", "input"]) {
      document.addEventListener(kind, arm, {passive: true, capture: true});
    }
    arm();
  }
})();
