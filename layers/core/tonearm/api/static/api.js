// The public APIs, called as any client calls them: Music.AI's job API under /v1 and Sofy's routes.
// The key goes in the Authorization header; it is kept in this browser's localStorage only.

const KEY_ITEM = "tonearm.apiKey";

export const apiKey = {
  get: () => localStorage.getItem(KEY_ITEM) || "",
  set: (key) => (key ? localStorage.setItem(KEY_ITEM, key) : localStorage.removeItem(KEY_ITEM)),
};

/** A URL of this deployment, relative to the page's base (its stage path behind API Gateway). */
export const apiUrl = (path) => new URL(path, document.baseURI).toString();

export class ApiError extends Error {
  constructor(status, code, message) {
    super(`${status} ${code}: ${message}`);
    this.status = status;
    this.code = code;
  }
}

async function call(method, path, { body, auth = true, accept } = {}) {
  const headers = {};
  const key = apiKey.get();
  if (auth && key) headers.Authorization = key;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (accept) headers.Accept = accept;
  const response = await fetch(apiUrl(path), {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (!response.ok) {
    let code = "http_error";
    let message = response.statusText;
    try {
      const err = (await response.json()).error;
      if (err) ({ code, message } = err);
    } catch { /* not JSON */ }
    throw new ApiError(response.status, code, message);
  }
  return response;
}

const json = async (method, path, options) => (await call(method, path, options)).json();

export const listWorkflows = () => json("GET", "v1/workflow");
export const getApplication = () => json("GET", "v1/application");
export const getJob = (id) => json("GET", `v1/job/${encodeURIComponent(id)}`);
export const createJob = (name, workflow, params) => json("POST", "v1/job", { body: { name, workflow, params } });

/** Upload a File through GET /v1/upload's presigned PUT URL; returns the URL to pass as inputUrl. */
export async function upload(file) {
  const { uploadUrl, downloadUrl } = await json("GET", "v1/upload");
  const put = await fetch(uploadUrl, { method: "PUT", body: file });
  if (!put.ok) throw new ApiError(put.status, "upload_failed", await put.text());
  return downloadUrl;
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Poll GET /v1/job/{id} until it ends, reporting each view to onUpdate. */
export async function waitForJob(id, onUpdate, intervalMs = 500) {
  for (;;) {
    const job = await getJob(id);
    onUpdate(job);
    if (job.status === "SUCCEEDED" || job.status === "FAILED") return job;
    await sleep(intervalMs);
  }
}

/** Sofy: start a generation (POST /generate-music), poll /music-status/{id}, download the WAV as a Blob. */
export async function generate(params, onUpdate) {
  const started = await json("POST", "generate-music", { body: params });
  for (;;) {
    const status = await json("GET", `music-status/${encodeURIComponent(started.task_id)}`);
    onUpdate(status);
    if (status.status === "failed") throw new ApiError(500, "generation_failed", status.error || "failed");
    if (status.status === "completed") break;
    await sleep(1000); // Sofy's routes allow 60 requests a minute
  }
  const wav = await call("GET", `download-music/${encodeURIComponent(started.task_id)}`, { accept: "audio/wav" });
  return { taskId: started.task_id, blob: await wav.blob() };
}

/** A result file (presigned URL) as JSON. */
export async function fetchJson(url) {
  const response = await fetch(url);
  if (!response.ok) throw new ApiError(response.status, "download_failed", url);
  return response.json();
}
