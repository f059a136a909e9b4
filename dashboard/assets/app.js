// Live updates: a table with data-refresh is refetched as JSON every second
// and its rows rebuilt with textContent (never HTML from the server).
"use strict";
(function () {
  const table = document.querySelector("table[data-refresh]");
  if (!table) return;
  const url = table.dataset.refresh, kind = table.dataset.kind;
  const prefix = url.slice(0, url.indexOf("/api/"));
  const live = document.getElementById("live");
  const fmt = (t) => t ? new Date(t).toISOString().replace("T", " ").replace(/(\.\d{3})Z$/, "$1Z") : "\u2014";
  const cell = (tr, text, cls) => { const td = tr.insertCell(); td.textContent = text == null ? "" : String(text); if (cls) td.className = cls; return td; };
  const link = (td, href, text) => { td.textContent = ""; const a = document.createElement("a"); a.href = href; a.textContent = text; td.appendChild(a); };
  const badge = (td, text, cls) => { const s = document.createElement("span"); s.className = "badge " + (cls || ""); s.textContent = text; td.append(" ", s); };
  function sessions(d) {
    document.getElementById("parked").textContent = d.parked;
    const body = document.createElement("tbody");
    for (const r of d.rows) {
      const tr = body.insertRow();
      tr.dataset.id = r.id;
      if (r.hot) tr.className = "hot";
      const td = cell(tr, "");
      link(td, prefix + "/sessions/" + encodeURIComponent(r.id), r.id);
      if (r.hot) badge(td, "hot", "hot-badge");
      if (r.noRecord) badge(td, "no record");
      cell(tr, r.owner); cell(tr, r.TID); cell(tr, r.backlog, "num backlog");
      cell(tr, r.leaseHolder); cell(tr, r.leaseHolder ? fmt(r.leaseUntil) : "\u2014");
      cell(tr, fmt(r.lastAccess)); cell(tr, fmt(r.expires));
    }
    if (!d.rows.length) { const tr = body.insertRow(); const td = cell(tr, "No sessions."); td.colSpan = 8; }
    table.replaceChild(body, table.tBodies[0]);
  }
  function session(d) {
    document.getElementById("backlog").textContent = d.backlog;
    const l = d.lease;
    document.getElementById("lease").textContent = l.leaseHolder ? l.leaseHolder + " runs " + l.leaseJob + " until " + fmt(l.leaseUntil) : "none";
    const body = document.createElement("tbody");
    for (const j of d.jobs) {
      const tr = body.insertRow();
      tr.dataset.id = j.id;
      cell(tr, j.seq, "num"); cell(tr, j.id); cell(tr, j.type); cell(tr, j.state, "state");
      cell(tr, j.attempts, "num"); cell(tr, j.worker); cell(tr, fmt(j.started)); cell(tr, fmt(j.finished));
    }
    if (!d.jobs.length) { const tr = body.insertRow(); const td = cell(tr, "No unfinished jobs."); td.colSpan = 8; }
    table.replaceChild(body, table.tBodies[0]);
  }
  async function tick() {
    try {
      const res = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
      if (res.status === 401) { location.href = prefix + "/login"; return; }
      if (!res.ok) throw new Error(res.status);
      const d = await res.json();
      (kind === "sessions" ? sessions : session)(d);
      live.classList.remove("stale"); live.textContent = "live";
    } catch (e) {
      live.classList.add("stale"); live.textContent = "not updating";
    }
    setTimeout(tick, 1000);
  }
  setTimeout(tick, 1000);
})();
