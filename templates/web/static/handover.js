// The signature pad of the hand-over form (templates/web/handover_form.html). The section is
// hidden until this script shows it, so without scripts the form works without a signature.
// Pointer events draw on the canvas (finger, pen or mouse); "Clear" wipes it; on submit a drawn
// signature goes into the hidden field as a PNG data URL (nothing when nothing was drawn).
"use strict";
(function () {
  const pad = document.getElementById("signature-pad");
  const field = document.getElementById("signature");
  const section = document.getElementById("signature-section");
  const clear = document.getElementById("signature-clear");
  if (!pad || !field || !section || !pad.getContext) { return; }
  const form = pad.closest("form");
  const ink = pad.getContext("2d");
  let drawing = false;
  let drawn = false;
  let last = null;

  section.hidden = false;
  ink.lineWidth = 2.5;
  ink.lineCap = "round";
  ink.lineJoin = "round";
  ink.strokeStyle = "#000";

  // Where the pointer is, in the canvas's own pixels (the page may show it smaller).
  const at = function (event) {
    const box = pad.getBoundingClientRect();
    return { x: (event.clientX - box.left) * pad.width / box.width,
             y: (event.clientY - box.top) * pad.height / box.height };
  };

  pad.addEventListener("pointerdown", function (event) {
    drawing = true;
    last = at(event);
    pad.setPointerCapture(event.pointerId);
    event.preventDefault();
  });
  pad.addEventListener("pointermove", function (event) {
    if (!drawing) { return; }
    const point = at(event);
    ink.beginPath();
    ink.moveTo(last.x, last.y);
    ink.lineTo(point.x, point.y);
    ink.stroke();
    last = point;
    drawn = true;
    event.preventDefault();
  });
  const stop = function () { drawing = false; };
  pad.addEventListener("pointerup", stop);
  pad.addEventListener("pointercancel", stop);

  clear.addEventListener("click", function () {
    ink.clearRect(0, 0, pad.width, pad.height);
    drawn = false;
    field.value = "";
  });
  form.addEventListener("submit", function () {
    field.value = drawn ? pad.toDataURL("image/png") : "";
  });
}());
