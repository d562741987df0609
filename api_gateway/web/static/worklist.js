// Worklist: keyboard navigation and a periodic refresh of the table body (no full reload).
// The server renders the rows (autoescaped), so nothing here builds HTML from data.
(function () {
  "use strict";
  var table = document.getElementById("queue");
  var body = document.getElementById("rows");
  var select = document.getElementById("status-filter");
  var count = document.getElementById("count");
  var updated = document.getElementById("updated");
  if (!table || !body) return;
  var refreshMs = (parseInt(table.dataset.refreshSeconds, 10) || 15) * 1000;
  var selected = -1;

  function rows() { return Array.prototype.slice.call(body.querySelectorAll("tr.row")); }

  function highlight(index) {
    var all = rows();
    if (!all.length) { selected = -1; return; }
    selected = Math.max(0, Math.min(index, all.length - 1));
    all.forEach(function (row, i) { row.classList.toggle("is-selected", i === selected); });
    all[selected].scrollIntoView({block: "nearest"});
  }

  function stamp() {
    updated.textContent = "Updated " + new Date().toLocaleTimeString([], {hour: "2-digit", minute: "2-digit", second: "2-digit"});
  }

  function refresh() {
    var url = table.dataset.rowsUrl + "?status=" + encodeURIComponent(select.value);
    var keep = rows()[selected];
    var keepId = keep ? keep.dataset.studyId : null;
    return fetch(url, {credentials: "same-origin", headers: {"X-Requested-With": "fetch"}})
      .then(function (response) {
        if (response.status === 401) { window.location.reload(); return null; }
        if (!response.ok) throw new Error("HTTP " + response.status);
        count.textContent = response.headers.get("X-Worklist-Count") || "";
        return response.text();
      })
      .then(function (html) {
        if (html === null) return;
        body.innerHTML = html;
        var again = rows().findIndex(function (row) { return row.dataset.studyId === keepId; });
        if (again >= 0) highlight(again); else selected = -1;
        stamp();
      })
      .catch(function (error) { updated.textContent = "Refresh failed (" + error.message + "); retrying"; });
  }

  body.addEventListener("click", function (event) {
    var row = event.target.closest("tr.row");
    if (row && !event.target.closest("a")) window.location.href = row.dataset.href;
  });
  select.addEventListener("change", function () {
    history.replaceState(null, "", "?status=" + encodeURIComponent(select.value));
    selected = -1;
    refresh();
  });
  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    if (/^(INPUT|TEXTAREA|SELECT)$/.test(document.activeElement.tagName)) return;
    var all = rows();
    if (event.key === "j") highlight(selected + 1);
    else if (event.key === "k") highlight(selected - 1);
    else if ((event.key === "Enter" || event.key === "o") && all[selected]) window.location.href = all[selected].dataset.href;
    else if (event.key === "r") refresh();
    else return;
    event.preventDefault();
  });
  stamp();
  setInterval(function () { if (!document.hidden) refresh(); }, refreshMs);
})();
