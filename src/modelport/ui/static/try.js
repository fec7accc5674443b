// "Try it": the form's row sent to the endpoint's REST route exactly as an application sends it (JSON records),
// with the console's session cookie and its CSRF echo in place of an Authorization header.
"use strict";
(function () {
  const form = document.getElementById("try");
  if (!form) return;
  const endpoint = form.dataset.endpoint;
  const classes = JSON.parse(form.dataset.classes || "[]");
  const $ = (id) => document.getElementById(id);

  function value(input) {
    const raw = input.value.trim();
    const kind = input.dataset.kind;
    if (raw === "") return null;
    if (kind === "integer" && /^[-+]?\d+$/.test(raw)) return parseInt(raw, 10);
    if (kind === "number" && raw !== "" && isFinite(Number(raw))) return Number(raw);
    if (kind === "boolean" && /^(true|false)$/i.test(raw)) return raw.toLowerCase() === "true";
    return raw; // anything else goes as typed: the endpoint says what is wrong with it
  }

  function clearProblems() {
    form.querySelectorAll("input").forEach((i) => i.removeAttribute("aria-invalid"));
    form.querySelectorAll(".problem").forEach((p) => { p.textContent = ""; });
  }

  function markField(message) {
    const m = /column '([^']+)'/.exec(message);
    if (!m) return false;
    const input = form.querySelector('input[name="' + CSS.escape(m[1]) + '"]');
    if (!input) return false;
    input.setAttribute("aria-invalid", "true");
    const problem = $(input.getAttribute("aria-describedby").split(" ")[1]);
    if (problem) problem.textContent = message;
    input.focus();
    return true;
  }

  function bars(probabilities) {
    const box = $("probs");
    box.textContent = "";
    if (!Array.isArray(probabilities)) return;
    probabilities.forEach((p, i) => {
      const row = document.createElement("div");
      row.className = "bar";
      const name = document.createElement("span");
      name.className = "name";
      name.textContent = classes[i] !== undefined ? String(classes[i]) : "class " + i;
      const fill = document.createElement("span");
      fill.className = "fill";
      fill.style.width = Math.max(0.5, 60 * p) + "%";
      const num = document.createElement("span");
      num.textContent = (100 * p).toFixed(1) + "%";
      row.append(name, fill, num);
      box.append(row);
    });
    box.setAttribute("aria-label", "Class probabilities: " + probabilities.map((p, i) => (classes[i] ?? i) + " " + (100 * p).toFixed(1) + "%").join(", "));
  }

  form.addEventListener("submit", async function (event) {
    event.preventDefault();
    clearProblems();
    const record = {};
    form.querySelectorAll("input[name]").forEach((input) => { record[input.name] = value(input); });
    const body = JSON.stringify({ dataframe_records: [record] });
    const url = "/endpoints/" + encodeURIComponent(endpoint) + "/invocations";
    const headers = { "Content-Type": "application/json", "Accept": "application/json", "X-Modelport-CSRF": window.modelportCsrf() };
    $("raw-request").textContent = "POST " + url + " HTTP/1.1\n" +
      Object.entries(headers).map(([k, v]) => k + ": " + (k === "X-Modelport-CSRF" ? "(this page's CSRF value)" : v)).join("\n") +
      "\nCookie: modelport_console=(your token, HttpOnly: never visible to scripts)\n\n" + body;
    $("curl").textContent = "curl -s -X POST " + location.origin + url + " -H \"Authorization: Bearer $MODELPORT_TOKEN\" -H \"Content-Type: application/json\" -d '" + body + "'";
    const started = performance.now();
    let response, text;
    try {
      response = await fetch(url, { method: "POST", headers: headers, body: body, credentials: "same-origin" });
      text = await response.text();
    } catch (e) {
      $("result").hidden = false;
      $("call-error").hidden = false;
      $("call-error").textContent = "The call did not complete: " + e;
      return;
    }
    const ms = performance.now() - started;
    const shown = [];
    response.headers.forEach((v, k) => shown.push(k + ": " + v));
    $("raw-response").textContent = "HTTP/1.1 " + response.status + "\n" + shown.join("\n") + "\n\n" + text;
    $("result").hidden = false;
    $("status").textContent = String(response.status);
    $("latency").textContent = ms.toFixed(1) + " ms";
    $("variant").textContent = response.headers.get("x-amzn-invoked-production-variant") || "—";
    let data = null;
    try { data = JSON.parse(text); } catch (e) { data = null; }
    const error = $("call-error");
    if (!response.ok) {
      const message = (data && (data.OriginalMessage || data.message)) || text;
      error.hidden = false;
      error.textContent = message;
      $("prediction").textContent = "—";
      bars(null);
      markField(message);
      form.dataset.state = "error";
      return;
    }
    error.hidden = true;
    const first = data && Array.isArray(data.predictions) ? data.predictions[0] : data && data.predictions;
    let label = first, probabilities = null;
    if (first && typeof first === "object" && !Array.isArray(first)) {
      label = first.label !== undefined ? first.label : first.prediction !== undefined ? first.prediction : JSON.stringify(first);
      probabilities = first.probabilities || first.probability || null;
    }
    $("prediction").textContent = typeof label === "object" ? JSON.stringify(label) : String(label);
    bars(probabilities);
    form.dataset.state = "done";
  });
})();
