// Playback: one clock for the page. Several <audio> elements (the stems) play in step; the first is
// the clock and the others follow it; mute and solo set each element's ``muted``.

export class Transport {
  constructor(onTick) {
    this.tracks = []; // {name, audio, muted, solo}
    this.onTick = onTick;
    this.frame = 0;
  }

  /** Replace the sources: [{name, url}]. */
  load(sources) {
    this.stop();
    this.tracks = sources.map(({ name, url }) => {
      const audio = new Audio();
      audio.preload = "auto";
      audio.dataset.track = name;
      audio.src = url;
      audio.addEventListener("ended", () => this.pause());
      return { name, audio, muted: false, solo: false };
    });
    this.mix();
    this.onTick(0);
  }

  get clock() {
    return this.tracks[0]?.audio;
  }

  get playing() {
    return Boolean(this.clock && !this.clock.paused);
  }

  get time() {
    return this.clock ? this.clock.currentTime : 0;
  }

  play() {
    if (!this.clock) return;
    const t = this.clock.currentTime;
    for (const { audio } of this.tracks) {
      audio.currentTime = t;
      audio.play().catch(() => {});
    }
    const tick = () => {
      this.follow();
      this.onTick(this.time);
      if (this.playing) this.frame = requestAnimationFrame(tick);
    };
    this.frame = requestAnimationFrame(tick);
  }

  pause() {
    for (const { audio } of this.tracks) audio.pause();
    cancelAnimationFrame(this.frame);
    this.onTick(this.time);
  }

  stop() {
    this.pause();
    for (const { audio } of this.tracks) audio.removeAttribute("src");
    this.tracks = [];
  }

  seek(t) {
    for (const { audio } of this.tracks) audio.currentTime = Math.max(0, t);
    this.onTick(Math.max(0, t));
  }

  /** Keep the followers within 50 ms of the clock. */
  follow() {
    const t = this.time;
    for (const { audio } of this.tracks.slice(1)) {
      if (Math.abs(audio.currentTime - t) > 0.05) audio.currentTime = t;
    }
  }

  setMuted(index, muted) {
    this.tracks[index].muted = muted;
    this.mix();
  }

  setSolo(index, solo) {
    this.tracks[index].solo = solo;
    this.mix();
  }

  /** A track sounds unless muted, or unless some track is soloed and it is not. */
  mix() {
    const soloing = this.tracks.some((t) => t.solo);
    for (const track of this.tracks) track.audio.muted = track.muted || (soloing && !track.solo);
  }
}

export const formatTime = (t) => {
  const m = Math.floor(t / 60);
  const s = (t - m * 60).toFixed(1).padStart(4, "0");
  return `${m}:${s}`;
};
