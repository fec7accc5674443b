// Jobs: while any job on the page is pending or running, its progress is polled and the row updated.
"use strict";
(function () {
  const table = document.getElementById("jobs");
  if (!table) return;
  const active = () => table.querySelector('tr[data-status="running"], tr[data-status="pending"]');
  if (!active()) return;
  window.modelportLive(table, function (jobs) {
    for (const [id, j] of Object.entries(jobs)) {
      const row = table.querySelector('tr[data-job="' + CSS.escape(id) + '"]');
      if (!row) continue;
      row.dataset.status = j.status;
      row.querySelector('[data-key="status"]').textContent = j.status;
      const bar = row.querySelector('[data-key="bar"]');
      if (j.bytes_total) { bar.max = j.bytes_total; bar.value = j.bytes_done; }
      row.querySelector('[data-key="inputs"]').textContent = j.inputs_done + "/" + j.inputs + " files";
      for (const k of ["records", "bad_records", "rows_per_second"]) row.querySelector('[data-key="' + k + '"]').textContent = String(j[k]);
    }
  });
})();
