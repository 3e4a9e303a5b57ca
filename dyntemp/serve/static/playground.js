// The playground: a prompt or a chat message, a strategy with its parameters (from /v1/strategies),
// the filters, seed and length; the reply streams in with each token coloured by the temperature it
// was drawn at (the colour scale of the terminal and the plots, from /playground/scale), its record
// on hover, and a chart of temperature and entropy per token. Side by side: the same prompt and
// seed under two settings, streamed together. "Save trace" writes the records as a trace file that
// `dyntemp plot` reads. The API key, when the server asks for one, is kept in the page's session.
"use strict";

const state = { strategies: [], scale: null, runs: {} };

function apiKey() { return sessionStorage.getItem("dyntemp-key"); }

async function api(path, options = {}) {
  for (let attempt = 0; attempt < 2; attempt++) {
    const headers = { ...(options.headers || {}) };
    if (apiKey()) headers["Authorization"] = "Bearer " + apiKey();
    const response = await fetch(path, { ...options, headers });
    if (response.status !== 401 || attempt) return response;
    const key = window.prompt("This server needs an API key:");
    if (!key) return response;
    sessionStorage.setItem("dyntemp-key", key);
  }
}

function channels(hex) { return [1, 3, 5].map(i => parseInt(hex.slice(i, i + 2), 16)); }

// The same interpolation as dyntemp.colour.Scale.rgb.
function colour(t) {
  const s = state.scale;
  if (t === null || Number.isNaN(t)) return s.missing;
  const halves = 2 * Math.min(Math.max((t - s.low) / (s.high - s.low), 0), 1);
  const [a, z, f] = halves <= 1 ? [s.cold, s.middle, halves] : [s.middle, s.hot, halves - 1];
  const rgb = channels(a).map((c, i) => Math.round(c + (channels(z)[i] - c) * f));
  return "rgb(" + rgb.join(",") + ")";
}

function textColour(t) {  // readable text on the token's background
  const s = state.scale;
  const far = Math.abs((t - (s.low + s.high) / 2) / ((s.high - s.low) / 2));
  return far > 0.6 ? "#fff" : "#222";
}

function setupRun(id) {
  const section = document.getElementById(id);
  section.appendChild(document.getElementById("run-template").content.cloneNode(true));
  const select = section.querySelector(".strategy");
  for (const s of state.strategies) {
    const option = document.createElement("option");
    option.value = s.name;
    option.textContent = s.name;
    option.title = s.summary;
    select.appendChild(option);
  }
  select.value = id === "run-a" ? "sentence" : "edt";
  select.addEventListener("change", () => showParams(section));
  showParams(section);
  state.runs[id] = { section, records: [], chart: null };
}

function showParams(section) {
  const name = section.querySelector(".strategy").value;
  const strategy = state.strategies.find(s => s.name === name);
  const params = section.querySelector(".params");
  params.replaceChildren();
  const examples = { sentence: { temperatures: [0.2, 0.9, 1.4] } };
  for (const [key, value] of Object.entries(strategy.parameters)) {
    const label = document.createElement("label");
    label.textContent = key + " ";
    const input = document.createElement("input");
    input.name = key;
    const shown = (examples[name] || {})[key] ?? value;
    input.value = shown === null ? "" : JSON.stringify(shown);
    input.placeholder = strategy.required.includes(key) ? "required" : "default";
    label.appendChild(input);
    params.appendChild(label);
  }
}

function settingsOf(section) {
  const strategy = { name: section.querySelector(".strategy").value };
  for (const input of section.querySelectorAll(".params input")) {
    if (input.value.trim() === "") continue;
    try { strategy[input.name] = JSON.parse(input.value); } catch { strategy[input.name] = input.value; }
  }
  const number = cls => Number(section.querySelector("." + cls).value);
  return { strategy, top_k: number("top_k"), top_p: number("top_p"), min_p: number("min_p") };
}

function newChart(run) {
  const target = run.section.querySelector(".chart");
  target.replaceChildren();
  run.chart = new uPlot({
    width: Math.max(300, target.clientWidth || 500), height: 180,
    scales: { x: { time: false } },
    series: [{ label: "token" }, { label: "temperature", stroke: "#b40426" }, { label: "entropy", stroke: "#3b4cc0" }],
  }, [[], [], []], target);
}

function addRecords(run, records) {
  const output = run.section.querySelector(".output");
  for (const r of records) {
    run.records.push(r);
    const span = document.createElement("span");
    span.className = "token";
    span.textContent = r.piece;
    span.style.background = colour(r.temperature);
    span.style.color = textColour(r.temperature);
    span.title = "temperature " + r.temperature.toFixed(3) + "\nentropy " + r.entropy.toFixed(3) +
      "\nprobability " + r.probability.toFixed(3) + "\nsentence " + r.sentence_index +
      (r.rule ? "\nrule " + r.rule : "");
    output.appendChild(span);
  }
  const x = run.records.map((_, i) => i);
  run.chart.setData([x, run.records.map(r => r.temperature), run.records.map(r => r.entropy)]);
}

async function stream(run, body, chat) {
  run.records = [];
  run.section.querySelector(".output").replaceChildren();
  run.section.querySelector(".legend").textContent = "";
  newChart(run);
  const response = await api(chat ? "/v1/chat/completions" : "/v1/completions", {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
  if (!response.ok) {
    const error = await response.json().catch(() => ({ error: { message: response.statusText } }));
    showError(run, error.error.message);
    return;
  }
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true });
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const event = buffer.slice(0, end).replace(/^data: /, "");
      buffer = buffer.slice(end + 2);
      if (event === "[DONE]") continue;
      const chunk = JSON.parse(event);
      if (chunk.error) { showError(run, chunk.error.message); return; }
      for (const choice of chunk.choices) {
        addRecords(run, choice.trace || []);
        if (choice.finish_reason) {
          run.section.querySelector(".legend").textContent =
            run.records.length + " tokens; finish_reason " + choice.finish_reason;
        }
      }
    }
  }
}

function showError(run, message) {
  const legend = run.section.querySelector(".legend");
  legend.textContent = message;
  legend.className = "legend error";
}

async function generate() {
  const chat = document.querySelector("input[name=mode]:checked").value === "chat";
  const text = document.getElementById("prompt").value;
  const common = { max_tokens: Number(document.getElementById("max_tokens").value),
                   seed: Number(document.getElementById("seed").value), stream: true, return_trace: true };
  if (chat) common.messages = [{ role: "user", content: text }]; else common.prompt = text;
  const ids = document.getElementById("compare").checked ? ["run-a", "run-b"] : ["run-a"];
  document.getElementById("generate").disabled = true;
  try {
    await Promise.all(ids.map(id => {
      const run = state.runs[id];
      run.section.querySelector(".legend").className = "legend";
      return stream(run, { ...common, ...settingsOf(run.section) }, chat);
    }));
  } finally {
    document.getElementById("generate").disabled = false;
    document.getElementById("save").disabled = !state.runs["run-a"].records.length;
  }
}

function save() {  // a trace file: a header line, then one record a line (dyntemp plot reads it)
  const run = state.runs["run-a"];
  const header = { header: { settings: settingsOf(run.section), prompt: document.getElementById("prompt").value,
                             seed: Number(document.getElementById("seed").value), source: "dyntemp playground" } };
  const lines = [header, ...run.records].map(r => JSON.stringify(r)).join("\n") + "\n";
  const link = document.createElement("a");
  link.href = URL.createObjectURL(new Blob([lines], { type: "application/jsonl" }));
  link.download = "trace.jsonl";
  link.click();
}

async function main() {
  const scale = await fetch("/playground/scale");
  state.scale = await scale.json();
  const auth = await (await fetch("/playground/auth")).json();
  if (auth.key_required && !apiKey()) {
    const key = window.prompt("This server needs an API key:");
    if (key) sessionStorage.setItem("dyntemp-key", key);
  }
  const response = await api("/v1/strategies");
  if (!response.ok) {
    document.getElementById("status").textContent = "the server refused: " + response.status;
    return;
  }
  state.strategies = (await response.json()).strategies;
  setupRun("run-a");
  setupRun("run-b");
  document.getElementById("compare").addEventListener("change", e => {
    document.getElementById("run-b").hidden = !e.target.checked;
  });
  document.getElementById("generate").addEventListener("click", generate);
  document.getElementById("save").addEventListener("click", save);
  document.getElementById("status").textContent = "ready";
}

main();
