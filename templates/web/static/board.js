// The technicians' board, live: rows, writers, printers and counts follow the station's
// Server-Sent Events (/board/events). Text only ever goes in as textContent, never as markup.
"use strict";
(function () {
  // Retry, cancel and reprint ask first (the forms say what they will do in data-confirm).
  document.addEventListener("submit", function (event) {
    const question = event.target.dataset && event.target.dataset.confirm;
    if (question && !window.confirm(question)) { event.preventDefault(); }
  });
  const table = document.getElementById("jobs");
  if (!table || !window.EventSource) { return; }
  const live = document.getElementById("live");
  const csrf = table.dataset.csrf;
  const may = {retry: table.dataset.mayRetry === "yes", cancel: table.dataset.mayCancel === "yes",
               reprint: table.dataset.mayReprint === "yes"};
  const ASK = {
    retry: function (job) { return "Retry job " + job + "?"; },
    cancel: function (job) {
      return "Cancel job " + job + "? A disc being written is finished first; nothing more is made.";
    },
    reprint: function (job) { return "Print the cover sheet and labels of job " + job + " again?"; }
  };
  const LABEL = {retry: "Retry", cancel: "Cancel", reprint: "Reprint"};

  function group(phase) { return table.querySelector('tbody[data-phase="' + phase + '"]'); }

  function button(job, action) {
    const form = document.createElement("form");
    form.method = "post";
    form.action = "/jobs/" + encodeURIComponent(job) + "/" + action;
    form.dataset.confirm = ASK[action](job);
    const token = document.createElement("input");
    token.type = "hidden"; token.name = "csrf"; token.value = csrf;
    const press = document.createElement("button");
    press.type = "submit"; press.textContent = LABEL[action];
    press.setAttribute("aria-label", LABEL[action] + " job " + job);
    form.append(token, press);
    return form;
  }

  function cell(row, name) {
    let found = row.querySelector("td." + name);
    if (!found) { found = document.createElement("td"); found.className = name; row.append(found); }
    return found;
  }

  function text(row, name, value) {
    const target = cell(row, name);
    if (target.textContent !== value) { target.textContent = value; }
  }

  function why(row, job) {
    const target = cell(row, "why");
    const key = JSON.stringify([job.reason_code, job.reason, job.problems, job.more_problems]);
    if (target.dataset.key === key) { return; }
    target.dataset.key = key;
    target.textContent = "";
    if (job.reason) {
      if (job.reason_code) {
        const code = document.createElement("span");
        code.className = "code"; code.textContent = job.reason_code;
        target.append(code, " ");
      }
      target.append(job.reason);
    }
    if (job.problems.length) {
      const details = document.createElement("details");
      details.className = "problems";
      const summary = document.createElement("summary");
      summary.textContent = (job.problems.length + job.more_problems) + " problem file(s)";
      const list = document.createElement("ul");
      for (const problem of job.problems) {
        const item = document.createElement("li");
        item.textContent = problem;
        list.append(item);
      }
      details.append(summary, list);
      target.append(details);
    }
  }

  function show(job) {
    let row = document.getElementById("job-" + job.job_id);
    if (!row) {
      row = document.createElement("tr");
      row.id = "job-" + job.job_id;
      const head = document.createElement("th");
      head.scope = "row";
      const link = document.createElement("a");
      link.href = "/jobs/" + encodeURIComponent(job.job_id);
      link.textContent = job.job_id;
      head.append(link);
      row.append(head);
      for (const name of ["stage", "progress", "left", "copies", "why", "actions"]) { cell(row, name); }
    }
    const target = group(job.phase);
    if (target && row.parentNode !== target) { target.append(row); }
    const before = row.dataset.phase;
    row.dataset.phase = job.phase;
    text(row, "stage", job.stage);
    text(row, "progress", job.progress);
    text(row, "left", job.left);
    text(row, "copies", job.copies);
    why(row, job);
    if (before !== job.phase) {
      const actions = cell(row, "actions");
      actions.textContent = "";
      for (const action of ["retry", "cancel", "reprint"]) {
        if (may[action] && job["may_" + action]) { actions.append(button(job.job_id, action)); }
      }
    }
  }

  function equipment(data) {
    for (const writer of data.writers) {
      const row = document.querySelector('#writers tr[data-writer="' + CSS.escape(writer.name) + '"]');
      if (!row) { continue; }
      row.dataset.state = writer.state;
      row.querySelector(".state").textContent = writer.state;
      row.querySelector(".medium").textContent = writer.medium || "unknown";
      row.querySelector(".words").textContent = writer.words;
    }
    for (const printer of data.printers) {
      const row = document.querySelector('#printers tr[data-queue="' + CSS.escape(printer.queue) + '"]');
      if (!row) { continue; }
      row.dataset.state = printer.state;
      row.querySelector(".state").textContent = printer.state;
      row.querySelector(".words").textContent = printer.words;
    }
    const free = document.querySelector("#disk .free");
    if (free) { free.textContent = Math.round(data.disk.free / 1e6).toLocaleString("en") + " MB"; }
  }

  function counts(data) {
    for (const [phase, count] of Object.entries(data.counts)) {
      const tally = document.querySelector('#counts span[data-phase="' + phase + '"] b');
      if (tally) { tally.textContent = String(count); }
      const body = group(phase);
      if (body) { body.hidden = count === 0; }
    }
  }

  // The banner follows the notices: made of text nodes, like everything else here.
  function banner(list) {
    const holder = document.getElementById("notices");
    if (!holder) { return; }
    const key = JSON.stringify(list);
    if (holder.dataset.key === key) { return; }
    holder.dataset.key = key;
    holder.textContent = "";
    if (!list.length) { return; }
    const section = document.createElement("section");
    section.className = "notices";
    section.setAttribute("role", "alert");
    section.setAttribute("aria-label", "Notices");
    const heading = document.createElement("h2");
    heading.className = "notices-heading";
    heading.textContent = list.length + (list.length === 1 ? " notice" : " notices");
    const items = document.createElement("ul");
    for (const notice of list) {
      const item = document.createElement("li");
      item.className = "notice"; item.dataset.kind = notice.kind;
      const kind = document.createElement("span");
      kind.className = "notice-kind"; kind.textContent = notice.kind;
      item.append(kind, " ");
      if (notice.job_id) {
        const link = document.createElement("a");
        link.href = "/jobs/" + encodeURIComponent(notice.job_id);
        link.textContent = notice.words;
        item.append(link);
      } else {
        item.append(notice.words);
      }
      items.append(item);
    }
    section.append(heading, items);
    holder.append(section);
  }

  const query = new URLSearchParams(window.location.search).get("done") === "all" ? "?done=all" : "";
  const events = new EventSource("/board/events" + query);
  events.onmessage = function (message) {
    const data = JSON.parse(message.data);
    const seen = new Set();
    for (const job of data.jobs) { show(job); seen.add("job-" + job.job_id); }
    for (const row of Array.from(table.querySelectorAll("tr[id^='job-']"))) {
      if (!seen.has(row.id)) { row.remove(); }
    }
    const none = document.querySelector("p.none");
    if (none && data.jobs.length) { none.remove(); }
    equipment(data.equipment);
    counts(data);
    banner(data.notices);
    if (data.desk) {          // the front desk's counts, for those who may see requests
      for (const [name, count] of Object.entries(data.desk)) {
        const tally = document.querySelector('#desk-summary b[data-count="' + name + '"]');
        if (tally) { tally.textContent = String(count); }
      }
    }
    live.textContent = "Updated " + new Date().toLocaleTimeString();
  };
  events.addEventListener("signed-out", function () {
    events.close();
    window.location.assign("/signin");
  });
  events.onerror = function () { live.textContent = "Connection lost; trying again"; };
}());
