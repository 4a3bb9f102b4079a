// The technicians' board, live: rows follow the station's Server-Sent Events
// (/board/events). Text only ever goes in as textContent, never as markup.
"use strict";
(function () {
  // Retry and cancel ask first (the forms say what they will do in data-confirm).
  document.addEventListener("submit", function (event) {
    const question = event.target.dataset && event.target.dataset.confirm;
    if (question && !window.confirm(question)) { event.preventDefault(); }
  });
  const table = document.getElementById("jobs");
  if (!table || !window.EventSource) { return; }
  const body = table.tBodies[0];
  const live = document.getElementById("live");
  const csrf = table.dataset.csrf;
  const mayRetry = table.dataset.mayRetry === "yes";
  const mayCancel = table.dataset.mayCancel === "yes";
  const RETRY = ["held", "rejected"];
  const CANCEL = ["active", "waiting", "approved", "pending", "queued"];

  function button(job, action, label) {
    const form = document.createElement("form");
    form.method = "post";
    form.action = "/jobs/" + encodeURIComponent(job) + "/" + action;
    form.dataset.confirm = action === "retry" ? "Retry job " + job + "?" :
      "Cancel job " + job + "? A disc being written is finished first; nothing more is made.";
    const token = document.createElement("input");
    token.type = "hidden"; token.name = "csrf"; token.value = csrf;
    const press = document.createElement("button");
    press.type = "submit"; press.textContent = label;
    press.setAttribute("aria-label", label + " job " + job);
    form.append(token, press);
    return form;
  }

  function cell(row, name) {
    let found = row.querySelector("td." + name);
    if (!found) { found = document.createElement("td"); found.className = name; row.append(found); }
    return found;
  }

  function show(job) {
    let row = document.getElementById("job-" + job.job_id);
    if (!row) {
      row = document.createElement("tr");
      row.id = "job-" + job.job_id;
      const head = document.createElement("th");
      head.scope = "row"; head.textContent = job.job_id;
      row.append(head);
      for (const name of ["state", "stage", "copies", "why", "actions"]) { cell(row, name); }
      body.append(row);
    }
    const before = row.dataset.state;
    row.dataset.state = job.state;
    cell(row, "state").textContent = job.state;
    cell(row, "stage").textContent = job.stage;
    cell(row, "copies").textContent = String(job.copies);
    const why = cell(row, "why");
    why.textContent = "";
    if (job.reason) {
      if (job.reason_code) {
        const code = document.createElement("span");
        code.className = "code"; code.textContent = job.reason_code;
        why.append(code, " ");
      }
      why.append(job.reason);
    }
    if (before !== job.state) {
      const actions = cell(row, "actions");
      actions.textContent = "";
      if (mayRetry && RETRY.includes(job.state)) { actions.append(button(job.job_id, "retry", "Retry")); }
      if (mayCancel && CANCEL.includes(job.state)) { actions.append(button(job.job_id, "cancel", "Cancel")); }
    }
  }

  const events = new EventSource("/board/events");
  events.onmessage = function (message) {
    const data = JSON.parse(message.data);
    const none = body.querySelector("tr.none");
    if (none && data.jobs.length) { none.remove(); }
    const seen = new Set();
    for (const job of data.jobs) { show(job); seen.add("job-" + job.job_id); }
    for (const row of Array.from(body.rows)) {
      if (row.id && !seen.has(row.id)) { row.remove(); }
    }
    live.textContent = "Updated " + new Date().toLocaleTimeString();
  };
  events.addEventListener("signed-out", function () {
    events.close();
    window.location.assign("/signin");
  });
  events.onerror = function () { live.textContent = "Connection lost; trying again"; };
}());
