// The timeline's lanes: waveform, beat grid, chords, tag heat strips, piano roll. Every lane shares one
// time axis (0 .. duration across the lane body), so a click anywhere seeks the same moment.

const SVG = "http://www.w3.org/2000/svg";

export function el(tag, attrs = {}, ...children) {
  const node = tag.startsWith("svg:") ? document.createElementNS(SVG, tag.slice(4)) : document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (name === "class") node.setAttribute("class", value);
    else if (name === "text") node.textContent = value;
    else if (name === "style") node.style.cssText = value;
    else node.setAttribute(name, value);
  }
  node.append(...children);
  return node;
}

/** A timeline: lanes whose bodies map [0, duration] onto their width; redraws them when resized. */
export class Timeline {
  constructor(container, duration, onSeek) {
    this.container = container;
    this.duration = Math.max(duration, 0.001);
    this.onSeek = onSeek;
    this.painters = [];
    this.observer = new ResizeObserver(() => this.paint());
    this.observer.observe(container);
  }

  /** Add a lane; ``draw(body, width)`` fills its body (called again whenever the width changes). */
  lane(label, draw, { height = 28, cls = "", title = "" } = {}) {
    const body = el("div", { class: "lane-body", style: `height:${height}px` });
    const head = el("div", { class: "lane-label", title: title || label }, label);
    const lane = el("div", { class: `lane ${cls}` }, head, body);
    body.addEventListener("click", (event) => {
      const box = body.getBoundingClientRect();
      this.onSeek(((event.clientX - box.left) / box.width) * this.duration);
    });
    this.container.append(lane);
    const painter = () => {
      const width = body.clientWidth;
      if (width > 0 && width !== painter.width) {
        painter.width = width;
        body.replaceChildren();
        draw(body, width, height);
      }
    };
    this.painters.push(painter);
    painter();
    return { lane, head, body };
  }

  group(title) {
    this.container.append(el("div", { class: "lane-group", text: title }));
  }

  paint() {
    for (const painter of this.painters) painter();
  }

  x(t, width) {
    return (t / this.duration) * width;
  }

  destroy() {
    this.observer.disconnect();
  }
}

function canvas(body, width, height) {
  const ratio = window.devicePixelRatio || 1;
  const c = el("canvas", { width: Math.round(width * ratio), height: Math.round(height * ratio) });
  c.style.height = `${height}px`;
  body.append(c);
  const ctx = c.getContext("2d");
  ctx.scale(ratio, ratio);
  return ctx;
}

/** The largest absolute sample of an AudioBuffer (every 16th sample: for scaling only). */
export function peak(buffer) {
  let top = 0;
  for (let c = 0; buffer && c < buffer.numberOfChannels; c++) {
    const data = buffer.getChannelData(c);
    for (let i = 0; i < data.length; i += 16) top = Math.max(top, Math.abs(data[i]));
  }
  return top;
}

/** Min/max envelope of a decoded AudioBuffer (all channels), drawn as a filled waveform ``gain`` times
 * as tall as full scale. */
export function drawWaveform(body, width, height, buffer, color = "#3d6fb6", gain = 1) {
  const ctx = canvas(body, width, height);
  if (!buffer) return;
  const channels = Array.from({ length: buffer.numberOfChannels }, (_, i) => buffer.getChannelData(i));
  const length = buffer.length;
  const mid = height / 2;
  const scale = mid * gain;
  ctx.fillStyle = color;
  for (let px = 0; px < width; px++) {
    const from = Math.floor((px / width) * length);
    const to = Math.max(from + 1, Math.floor(((px + 1) / width) * length));
    let lo = 0;
    let hi = 0;
    const step = Math.max(1, Math.floor((to - from) / 512)); // sample long columns sparsely
    for (const data of channels) {
      for (let i = from; i < to; i += step) {
        const v = data[i];
        if (v < lo) lo = v;
        if (v > hi) hi = v;
      }
    }
    ctx.fillRect(px, mid - Math.min(mid, hi * scale), 1, Math.max(1, Math.min(height, (hi - lo) * scale)));
  }
}

/** Beat markers (``beats``: [{time, downbeat}]): a line per beat, downbeats taller and red. */
export function drawBeats(timeline, body, width, height, beats) {
  const svg = el("svg:svg", { width, height, "data-beats": beats.length });
  for (const beat of beats) {
    const x = timeline.x(beat.time, width).toFixed(1);
    svg.append(
      el("svg:line", {
        class: beat.downbeat ? "beat-marker downbeat" : "beat-marker",
        x1: x, x2: x, y1: beat.downbeat ? 0 : height * 0.35, y2: height,
        "data-time": beat.time,
      }),
    );
  }
  body.append(svg);
}

/** The chord lane: a box per chord with its label (``N``, no chord, greyed and unlabelled). */
export function drawChords(timeline, body, width, height, chords) {
  const svg = el("svg:svg", { width, height });
  for (const chord of chords) {
    const x0 = timeline.x(chord.start, width);
    const w = Math.max(1, timeline.x(chord.end, width) - x0);
    const none = chord.label === "N";
    const group = el("svg:g", { class: none ? "chord no-chord" : "chord", "data-label": chord.label });
    const clip = `clip-${Math.random().toString(36).slice(2)}`;
    group.append(
      el("svg:clipPath", { id: clip }, el("svg:rect", { x: x0, y: 0, width: w, height })),
      el("svg:rect", { x: x0, y: 0, width: w, height }),
    );
    if (!none) {
      group.append(
        el("svg:text", { class: "chord-label", x: x0 + 3, y: height / 2 + 4, "clip-path": `url(#${clip})` }, chord.label),
      );
    }
    svg.append(group);
  }
  body.append(svg);
}

/** A heat strip: one cell per segment ([{start, end, value}] with value 0..1). */
export function drawHeat(timeline, body, width, height, cells) {
  const ctx = canvas(body, width, height);
  for (const cell of cells) {
    const x0 = timeline.x(cell.start, width);
    const x1 = timeline.x(cell.end, width);
    const v = Math.max(0, Math.min(1, cell.value));
    ctx.fillStyle = `rgba(208, 69, 47, ${(0.08 + 0.92 * Math.sqrt(v)).toFixed(3)})`;
    ctx.fillRect(x0, 0, Math.max(1, x1 - x0 - 0.5), height);
  }
}

/** The piano roll: a bar per note ({start, end, pitch, velocity}), pitch upwards, C rows shaded. */
export function drawPianoRoll(timeline, body, width, height, notes) {
  const ctx = canvas(body, width, height);
  if (!notes.length) return;
  const lo = Math.min(...notes.map((n) => n.pitch)) - 1;
  const hi = Math.max(...notes.map((n) => n.pitch)) + 1;
  const row = height / (hi - lo + 1);
  for (let p = lo; p <= hi; p++) {
    if (p % 12 === 0) {
      ctx.fillStyle = "#eef1f6";
      ctx.fillRect(0, height - (p - lo + 1) * row, width, row);
    }
  }
  for (const note of notes) {
    const x0 = timeline.x(note.start, width);
    const w = Math.max(1.5, timeline.x(note.end, width) - x0);
    ctx.fillStyle = `hsl(${(220 - (note.velocity / 127) * 200).toFixed(0)}, 65%, 48%)`;
    ctx.fillRect(x0, height - (note.pitch - lo + 1) * row, w, Math.max(1.5, row - 0.5));
  }
  body.dataset.notes = String(notes.length);
}
