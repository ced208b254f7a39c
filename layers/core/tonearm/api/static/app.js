// tonearm's page: pick a file, run a workflow through the job API, watch its progress, see the result
// on one timeline. Plain ES modules, no build step and no dependency: the API serves these files as they
// are, so the page works offline and from any deployment (locally at /, in AWS at /<stage>/).

import * as api from "./api.js";
import { Timeline, drawBeats, drawChords, drawHeat, drawPianoRoll, drawWaveform, el, peak } from "./lanes.js";
import { Transport, formatTime } from "./player.js";

const $ = (id) => document.getElementById(id);
const state = { file: null, workflows: [], timeline: null, audioBuffer: null, duration: 0 };

// Workflows the page runs on an input file, and the params it suggests for each (editable).
const SKIPPED = new Set(["tonearm/batch", "tonearm/generate"]);
const SUGGESTED_PARAMS = {
  "tonearm/tagging": { taskTypes: ["MusicTaggingMTT", "MusicTaggingMood10"], topNum: 10, segments: true },
};

const transport = new Transport((t) => {
  $("clock").textContent = `${formatTime(t)} / ${formatTime(state.duration)}`;
  const cursor = $("cursor");
  const lanes = $("lanes");
  const body = lanes.querySelector(".lane-body");
  if (!body || !state.duration) return;
  const left = body.offsetLeft + (t / state.duration) * body.clientWidth;
  cursor.style.display = "block";
  cursor.style.left = `${left}px`;
});

function showError(where, error) {
  $(where).textContent = error ? String(error.message || error) : "";
}

// ---- API key -------------------------------------------------------------------------------------
async function checkKey() {
  const key = api.apiKey.get();
  $("api-key").value = key;
  if (!key) {
    $("key-state").textContent = "no key yet: the job API needs one";
    return false;
  }
  try {
    const application = await api.getApplication();
    $("key-state").textContent = `✓ ${application.name || application.id}`;
    return true;
  } catch (error) {
    $("key-state").textContent = `✗ ${error.code || error.message}`;
    return false;
  }
}

$("key-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  api.apiKey.set($("api-key").value.trim());
  if (await checkKey()) await loadWorkflows();
});
$("forget-key").addEventListener("click", () => {
  api.apiKey.set("");
  checkKey();
});

// ---- workflows and the form ----------------------------------------------------------------------
async function loadWorkflows() {
  try {
    state.workflows = await api.listWorkflows();
  } catch (error) {
    showError("error", error);
    return;
  }
  const select = $("workflow");
  const current = select.value;
  select.replaceChildren(
    ...state.workflows
      .filter((w) => !SKIPPED.has(w.slug))
      .map((w) => el("option", { value: w.slug, text: `${w.name} (${w.slug})` })),
  );
  select.value = current || "tonearm/beats-and-chords";
  if (!select.value) select.selectedIndex = 0;
  onWorkflowChange();
  buildGenerateForm(state.workflows.find((w) => w.slug === "tonearm/generate"));
}

function onWorkflowChange() {
  const slug = $("workflow").value;
  const workflow = state.workflows.find((w) => w.slug === slug);
  $("workflow-description").textContent = workflow ? workflow.description : "";
  $("params").value = JSON.stringify(SUGGESTED_PARAMS[slug] || {});
}
$("workflow").addEventListener("change", onWorkflowChange);

function setFile(file) {
  state.file = file;
  $("file-name").textContent = file ? `${file.name} (${(file.size / 1e6).toFixed(2)} MB)` : "";
  if (file) $("input-url").value = "";
}
$("file").addEventListener("change", (event) => setFile(event.target.files[0] || null));
$("input-url").addEventListener("input", () => $("input-url").value && setFile(null));
const drop = $("drop");
drop.addEventListener("dragover", (event) => {
  event.preventDefault();
  drop.classList.add("over");
});
drop.addEventListener("dragleave", () => drop.classList.remove("over"));
drop.addEventListener("drop", (event) => {
  event.preventDefault();
  drop.classList.remove("over");
  if (event.dataTransfer.files.length) setFile(event.dataTransfer.files[0]);
});

// ---- running a job -------------------------------------------------------------------------------
$("run").addEventListener("click", run);

async function run() {
  showError("error", null);
  const slug = $("workflow").value;
  let params;
  try {
    params = JSON.parse($("params").value || "{}");
  } catch (error) {
    showError("error", `params: ${error.message}`);
    return;
  }
  const url = $("input-url").value.trim();
  if (!state.file && !url) {
    showError("error", "drop or pick a file, or paste a URL");
    return;
  }
  $("run").disabled = true;
  $("play").disabled = true;
  transport.pause();
  delete $("result").dataset.jobId;
  $("job").hidden = false;
  const status = (text, percent) => {
    $("job-status").textContent = text;
    if (percent == null) $("job-progress").removeAttribute("value");
    else $("job-progress").value = percent;
    $("job-percent").textContent = percent == null ? "" : `${Math.round(percent)} %`;
  };
  try {
    let inputUrl = url;
    if (state.file) {
      status("uploading…", null);
      inputUrl = await api.upload(state.file);
    }
    const audioSource = state.file ? URL.createObjectURL(state.file) : inputUrl;
    const decoding = decodeAudio(state.file || inputUrl);
    const name = state.file ? state.file.name : url.split("/").pop() || "job";
    const { id } = await api.createJob(name.slice(0, 256), slug, { ...params, inputUrl });
    $("job").dataset.jobId = id;
    const job = await api.waitForJob(id, (j) => status(`${j.status.toLowerCase()} · ${j.id}`, j.progress));
    if (job.status === "FAILED") {
      status("failed", job.progress);
      throw new Error(job.error ? `${job.error.code}: ${job.error.message}` : "the job failed");
    }
    status("succeeded", 100);
    await showResult(job, await decoding, audioSource);
  } catch (error) {
    showError("error", error);
  } finally {
    $("run").disabled = false;
  }
}

/** Decode a File or URL to an AudioBuffer for the waveform (null when the browser cannot). */
async function decodeAudio(source) {
  try {
    const data = source instanceof Blob ? await source.arrayBuffer() : await (await fetch(source)).arrayBuffer();
    return await new OfflineAudioContext(1, 1, 44100).decodeAudioData(data);
  } catch {
    return null;
  }
}

// ---- showing a result ----------------------------------------------------------------------------
async function fileJson(job, name) {
  return job.result && typeof job.result[name] === "string" ? api.fetchJson(job.result[name]) : null;
}

async function showResult(job, buffer, audioSource) {
  const spec = state.workflows.find((w) => w.slug === job.workflow) || { outputs: {} };
  const result = job.result || {};
  const section = $("result");
  section.hidden = false;
  $("result-title").textContent = `${spec.name || job.workflow} · ${job.name}`;
  $("raw-json").textContent = JSON.stringify(result, null, 2);

  const [beatMap, chordMap, segments, notes] = await Promise.all([
    fileJson(job, "beatMap"),
    fileJson(job, "chordMap"),
    fileJson(job, "segments"),
    fileJson(job, "notes"),
  ]);
  const stems = Object.entries(spec.outputs || {})
    .filter(([name, out]) => out.type === "file" && out.contentType === "audio/wav" && result[name])
    .map(([name]) => ({ name, url: result[name] }));
  const isStems = stems.length > 1;

  state.duration =
    (buffer && buffer.duration) || result.duration ||
    Math.max(0, ...(chordMap || []).map((c) => c.end), ...(notes || []).map((n) => n.end));

  // key, tempo and the other headline values
  const chips = [];
  const chip = (label, value) => value != null && value !== "" && chips.push(el("span", { class: "chip" }, `${label} `, el("b", { text: String(value) })));
  chip("Key", result.key);
  chip("Tempo", result.bpm ? `${Number(result.bpm).toFixed(1)} BPM` : null);
  chip("Time signature", result.timeSignature ? `${result.timeSignature}/4` : null);
  chip("Duration", state.duration ? formatTime(state.duration) : null);
  chip("Loudness", result.loudnessLufs != null ? `${result.loudnessLufs} LUFS` : null);
  chip("Notes", result.noteCount);
  chip("Top genre", result.topGenre ? `${result.topGenre} (${result.topConfidence} %)` : null);
  $("summary").replaceChildren(...chips);

  // the lanes
  if (state.timeline) state.timeline.destroy();
  $("lanes").replaceChildren();
  const timeline = new Timeline($("lanes"), state.duration || 1, (t) => transport.seek(t));
  state.timeline = timeline;
  timeline.lane("Waveform", (body, w, h) => drawWaveform(body, w, h, buffer), { height: 70, cls: "lane-waveform" });

  const beats = beatMap
    ? beatMap.map((b) => ({ time: b.time, downbeat: b.beatNum === 1 }))
    : Array.isArray(result.beats)
      ? result.beats.map((t) => ({ time: t, downbeat: (result.downbeats || []).some((d) => Math.abs(d - t) < 1e-3) }))
      : null;
  if (beats) timeline.lane(`Beats (${beats.length})`, (body, w, h) => drawBeats(timeline, body, w, h, beats), { cls: "lane-beats" });
  if (chordMap) timeline.lane("Chords", (body, w, h) => drawChords(timeline, body, w, h, chordMap), { height: 30, cls: "lane-chords" });
  if (notes) timeline.lane(`Piano roll (${notes.length})`, (body, w, h) => drawPianoRoll(timeline, body, w, h, notes), { height: 180, cls: "lane-piano-roll" });
  if (Array.isArray(result.tasks)) showTags(timeline, result.tasks, segments);
  if (Array.isArray(result.genres)) showGenres(timeline, result.genres);

  // playback: the stems together (solo and mute), else the input
  if (isStems) await showStems(timeline, stems);
  transport.load(isStems ? stems : [{ name: "input", url: audioSource }]);
  $("players").replaceChildren(...transport.tracks.map((t) => t.audio));
  $("play").disabled = false;
  $("play").textContent = "Play";
  $("cursor").style.display = "block";
  transport.seek(0);
  // drawn: what the page shows is this job's (the browser tests wait for these)
  section.dataset.workflow = job.workflow;
  section.dataset.jobId = job.id;
}

function showTags(timeline, tasks, segments) {
  for (const task of tasks) {
    timeline.group(task.taskType);
    const group = el("div", { class: "tag-task", "data-task-type": task.taskType, hidden: "" });
    $("lanes").append(group);
    for (const tag of task.tags) {
      const cells = (segments || []).map((segment) => {
        const seg = segment.tasks.find((t) => t.taskType === task.taskType);
        const hit = seg && seg.tags.find((t) => t.label === tag.label);
        return { start: segment.start, end: segment.end, value: hit ? hit.probability : 0 };
      });
      const { head } = timeline.lane("", (body, w, h) => drawHeat(timeline, body, w, h, cells), { height: 18, cls: "lane-tag", title: tag.label });
      head.replaceChildren(
        el("div", { class: "tag-bar", "data-label": tag.label, "data-task-type": task.taskType, style: `width:${(tag.probability * 100).toFixed(1)}%` }),
        el("span", { class: "tag-name", text: tag.label }),
        el("span", { class: "tag-p", text: tag.probability.toFixed(2) }),
      );
    }
  }
}

function showGenres(timeline, genres) {
  timeline.group("Genres");
  for (const genre of genres) {
    const { head } = timeline.lane("", () => {}, { height: 18, cls: "lane-tag" });
    head.replaceChildren(
      el("div", { class: "tag-bar", "data-label": genre.genre, style: `width:${genre.confidence}%` }),
      el("span", { class: "tag-name", text: genre.genre }),
      el("span", { class: "tag-p", text: `${genre.confidence} %` }),
    );
  }
}

/** A lane per stem (its waveform, mute and solo), on the timeline's axis. */
async function showStems(timeline, stems) {
  // every stem on one scale (the loudest stem's peak fills its row), so quiet stems look quiet
  const buffers = await Promise.all(stems.map((stem) => decodeAudio(stem.url)));
  const gain = 1 / Math.max(1e-3, ...buffers.map(peak));
  timeline.group("Stems");
  stems.forEach((stem, index) => {
    const draw = (body, w, h) => drawWaveform(body, w, h, buffers[index], "#6a8f3d", gain);
    const { lane, head } = timeline.lane("", draw, { height: 36, cls: "lane-stem", title: stem.name });
    lane.dataset.stem = stem.name;
    const mute = el("button", { type: "button", class: "mute", text: "M", title: "mute" });
    const solo = el("button", { type: "button", class: "solo", text: "S", title: "solo" });
    mute.addEventListener("click", () => transport.setMuted(index, mute.classList.toggle("on")));
    solo.addEventListener("click", () => transport.setSolo(index, solo.classList.toggle("on")));
    head.replaceChildren(el("span", { class: "stem-name", text: stem.name }), mute, solo);
  });
}

$("play").addEventListener("click", () => {
  if (transport.playing) {
    transport.pause();
    $("play").textContent = "Play";
  } else {
    transport.play();
    $("play").textContent = "Pause";
  }
});

// ---- generation (Sofy's parameters, from the tonearm/generate workflow's params schema) ----------
function buildGenerateForm(workflow) {
  const form = $("generate-form");
  if (!workflow) {
    form.replaceChildren(el("p", { class: "muted", text: "this deployment has no tonearm/generate workflow" }));
    return;
  }
  const props = workflow.params.properties || {};
  const fields = [];
  for (const [name, schema] of Object.entries(props)) {
    const types = schema.anyOf ? schema.anyOf.map((s) => s.type) : [schema.type];
    const label = el("label", { class: name === "prompt" ? "prompt" : "", title: schema.description || "" }, name.replace(/_/g, " "));
    let input;
    if (name === "prompt") {
      input = el("textarea", { name, required: "", maxlength: schema.maxLength || 1000 });
      input.value = "calm lo-fi piano with soft drums";
    } else if (schema.enum) {
      input = el("select", { name }, ...schema.enum.map((v) => el("option", { value: v, text: v })));
      input.value = schema.default;
    } else if (types.includes("integer") || types.includes("number")) {
      const s = schema.anyOf ? schema.anyOf.find((v) => v.type !== "null") : schema;
      input = el("input", { name, type: "number", step: types.includes("integer") ? "1" : "0.1" });
      if (s.minimum != null) input.min = s.minimum;
      if (s.maximum != null) input.max = s.maximum;
      if (schema.default != null) input.value = schema.default;
      input.dataset.type = types.includes("integer") ? "integer" : "number";
    } else {
      continue;
    }
    label.append(input);
    fields.push(label);
  }
  fields.push(el("button", { type: "submit", text: "Generate" }));
  form.replaceChildren(...fields);
}

$("generate-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  showError("generate-error", null);
  const params = {};
  for (const input of event.target.querySelectorAll("[name]")) {
    if (input.value === "") continue;
    if (input.dataset.type === "integer") params[input.name] = parseInt(input.value, 10);
    else if (input.dataset.type === "number") params[input.name] = Number(input.value);
    else params[input.name] = input.value;
  }
  const button = event.target.querySelector("button");
  button.disabled = true;
  $("generate-job").hidden = false;
  try {
    const { taskId, blob } = await api.generate(params, (s) => {
      $("generate-status").textContent = `${s.status} · ${s.task_id}`;
      $("generate-progress").value = s.progress_percentage;
    });
    const url = URL.createObjectURL(blob);
    const audio = el("audio", { controls: "", src: url, "data-task-id": taskId });
    const wave = el("div", { class: "lane-body", style: "height:60px" });
    $("generate-result").replaceChildren(audio, wave);
    const buffer = await decodeAudio(blob);
    drawWaveform(wave, wave.clientWidth, 60, buffer, "#6a3d8f");
    wave.addEventListener("click", (e) => {
      const box = wave.getBoundingClientRect();
      audio.currentTime = ((e.clientX - box.left) / box.width) * (audio.duration || 0);
    });
  } catch (error) {
    showError("generate-error", error);
  } finally {
    button.disabled = false;
  }
});

// ---- start ---------------------------------------------------------------------------------------
(async () => {
  if (await checkKey()) await loadWorkflows();
  document.body.dataset.ready = "true";
})();
