"""The page in a real browser: upload a rendered clip, run jobs, and check what is drawn against the results.

One server and one browser for the module: the key is entered once (and survives a reload), then a chords
job (waveform, beat grid, chord lane, key and tempo; the screenshot the README shows), an analysis of a
pasted URL (beats, playback), a tagging job (a bar and a heat strip per label), a transcription (piano
roll), stems (solo, mute, seeking together), a generation through Sofy's routes, and the API docs. After
each page, every request it made went to 127.0.0.1 (chromium may resolve no other host anyway).
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.browser.conftest import Browser
from tests.conftest import PROJECT_ROOT
from tests.e2e.conftest import API_KEY, Server
from tests.workflows.test_chords_transcribe_workflow import progression_mp3  # noqa: F401

pytestmark = [pytest.mark.browser, pytest.mark.e2e]

#: The README's screenshot: rewritten when missing or with UPDATE_SCREENSHOTS=1 (the artefact always is).
README_SCREENSHOT = PROJECT_ROOT / "docs" / "img" / "page.png"


def wait_until(browser: Browser, script: str, *args: Any, timeout_s: float = 60.0) -> Any:
    """Run ``script`` (a JS function body) until it returns something truthy; fail with the page's error."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = browser.driver.execute_script(script, *args)
        if value:
            return value
        time.sleep(0.1)
    error = browser.driver.execute_script(
        "return [...document.querySelectorAll('.error')].map(e => e.textContent).join(' ')"
    )
    logs = [e["message"] for e in browser.driver.get_log("browser")]
    raise AssertionError(f"timed out waiting for {script!r}; page errors: {error!r}; console: {logs}")


def assert_offline(browser: Browser) -> list[str]:
    urls = browser.requested_urls()
    assert urls, "the performance log recorded no request"
    assert not browser.offsite(urls), browser.offsite(urls)
    return urls


@pytest.fixture(scope="module")
def page(browser: Browser, web_server: Server) -> Browser:
    """The page, with the API key entered once through its form."""
    driver = browser.driver
    driver.get(web_server.base_url + "/")
    wait_until(browser, "return document.body.dataset.ready")
    driver.find_element("id", "api-key").send_keys(API_KEY)
    driver.find_element("css selector", "#key-form button[type=submit]").click()
    wait_until(browser, "return document.getElementById('key-state').textContent.startsWith('✓')")
    driver.refresh()  # kept in the browser: no key to enter again
    wait_until(browser, "return document.body.dataset.ready && document.getElementById('workflow').length")
    assert driver.execute_script("return localStorage.getItem('tonearm.apiKey')") == API_KEY
    return browser


def run_job(page: Browser, clip: Path, workflow: str, params: str | None = None) -> str:
    """Pick ``clip``, choose ``workflow``, press Run and wait for the result to be drawn; the job id."""
    driver = page.driver
    driver.execute_script(
        "const s = document.getElementById('workflow'); s.value = arguments[0];"
        "s.dispatchEvent(new Event('change'));"
        "document.getElementById('result').removeAttribute('data-job-id');",
        workflow,
    )
    if params is not None:
        driver.execute_script("document.getElementById('params').value = arguments[0]", params)
    file_input = driver.find_element("id", "file")
    file_input.send_keys(str(clip))
    driver.find_element("id", "run").click()
    return str(
        wait_until(
            page,
            "const r = document.getElementById('result');"
            "return !r.hidden && r.dataset.workflow === arguments[0]"
            " && !document.getElementById('play').disabled && r.dataset.jobId",
            workflow,
            timeout_s=120,
        )
    )


def server_job_ok(server: Server, job_id: str) -> bool:
    return bool(server.get(f"/v1/job/{job_id}").json()["status"] == "SUCCEEDED")


def job_files(server: Server, job_id: str, *names: str) -> tuple[dict[str, Any], list[Any]]:
    job = server.get(f"/v1/job/{job_id}").json()
    assert job["status"] == "SUCCEEDED", job
    return job, [requests.get(job["result"][name], timeout=10).json() for name in names]


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory, progression_mp3: bytes) -> Path:  # noqa: F811
    path = tmp_path_factory.mktemp("clip") / "progression.mp3"
    path.write_bytes(progression_mp3)
    return path


def screenshot(page: Browser, artifacts: Path, name: str) -> Path:
    driver = page.driver
    # the window's inner height: the page's content (and a margin), no empty space below it
    height = driver.execute_script(
        "return Math.ceil(document.querySelector('main').getBoundingClientRect().bottom + window.scrollY)"
        " + window.outerHeight - window.innerHeight"
    )
    driver.set_window_size(1280, min(max(600, int(height)), 4000))
    target = artifacts / name
    driver.save_screenshot(str(target))
    assert target.stat().st_size > 10_000
    return target


def test_chords_job_draws_waveform_beats_chords_key_and_tempo(
    page: Browser, web_server: Server, clip: Path, artifacts: Path
) -> None:
    job_id = run_job(page, clip, "tonearm/beats-and-chords")
    job, (beat_map, chord_map) = job_files(web_server, job_id, "beatMap", "chordMap")
    js: Callable[[str], Any] = page.driver.execute_script
    # the beat grid: a marker per beat (within 5 %), the downbeats marked
    markers = js("return document.querySelectorAll('.lane-beats .beat-marker').length")
    assert abs(markers - len(beat_map)) <= 0.05 * len(beat_map), (markers, len(beat_map))
    downbeats = js("return document.querySelectorAll('.lane-beats .beat-marker.downbeat').length")
    assert downbeats == sum(1 for b in beat_map if b["beatNum"] == 1)
    # the chord lane: every chord's label is drawn
    drawn = js("return [...document.querySelectorAll('.lane-chords .chord-label')].map(t => t.textContent)")
    expected = [c["label"] for c in chord_map if c["label"] != "N"]
    assert drawn == expected and {"Cmaj"} <= set(drawn)
    # key and tempo
    summary = js("return document.getElementById('summary').textContent")
    assert job["result"]["key"] in summary and f"{job['result']['bpm']:.1f} BPM" in summary
    # the waveform is drawn: some of its canvas is ink
    inked = js(
        "const c = document.querySelector('.lane-waveform canvas');"
        "const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;"
        "let n = 0; for (let i = 3; i < d.length; i += 4) n += d[i] > 0; return n / (d.length / 4);"
    )
    assert inked > 0.05
    # playback seeks with the lanes: a click half-way along the chord lane moves the clock there
    js(
        "const b = document.querySelector('.lane-chords .lane-body'); const r = b.getBoundingClientRect();"
        "const at = {clientX: r.left + r.width / 2, clientY: r.top + 5, bubbles: true};"
        "b.dispatchEvent(new MouseEvent('click', at));"
    )
    duration = js("return document.getElementById('clock').textContent")
    assert duration.startswith("0:1"), duration  # ~10.8 s of a 21.6 s clip
    cursor = js("return parseFloat(document.getElementById('cursor').style.left)")
    body_mid = js(
        "const b = document.querySelector('.lane-chords .lane-body'); return b.offsetLeft + b.clientWidth / 2"
    )
    assert abs(cursor - body_mid) < 3
    assert_offline(page)
    shot = screenshot(page, artifacts, "page-chords.png")
    if os.environ.get("UPDATE_SCREENSHOTS") == "1" or not README_SCREENSHOT.exists():
        README_SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, README_SCREENSHOT)


def test_a_pasted_url_is_analysed_and_plays(page: Browser, web_server: Server, clip: Path) -> None:
    """An input URL instead of a file (here the presigned URL of an upload made outside the page)."""
    upload = web_server.get("/v1/upload").json()
    assert requests.put(upload["uploadUrl"], data=clip.read_bytes(), timeout=10).status_code == 200
    js: Callable[..., Any] = page.driver.execute_script
    js(
        "const s = document.getElementById('workflow'); s.value = 'tonearm/analyze';"
        "s.dispatchEvent(new Event('change'));"
        "const u = document.getElementById('input-url'); u.value = arguments[0];"
        "u.dispatchEvent(new Event('input')); document.getElementById('run').click();",
        upload["downloadUrl"],
    )
    job_id = wait_until(
        page,
        "const r = document.getElementById('result');"
        "return r.dataset.workflow === 'tonearm/analyze' && r.dataset.jobId",
        timeout_s=120,
    )
    result = web_server.get(f"/v1/job/{job_id}").json()["result"]
    markers = js("return document.querySelectorAll('.lane-beats .beat-marker').length")
    assert abs(markers - len(result["beats"])) <= 0.05 * len(result["beats"])
    downbeats = js("return document.querySelectorAll('.lane-beats .beat-marker.downbeat').length")
    assert downbeats == len(result["downbeats"])
    assert result["key"] in js("return document.getElementById('summary').textContent")
    # playing moves the clock and the cursor over the lanes
    js("document.getElementById('play').click()")
    wait_until(page, "return document.querySelector('#players audio').currentTime > 0.3", timeout_s=10)
    js("document.getElementById('play').click()")
    assert js("return document.querySelector('#players audio').paused")
    assert not js("return document.getElementById('clock').textContent.startsWith('0:00.0')")
    assert_offline(page)


def test_tagging_job_draws_a_bar_and_a_heat_strip_per_label(
    page: Browser, web_server: Server, clip: Path, artifacts: Path
) -> None:
    params = '{"taskTypes": ["MusicTaggingMTT", "MusicTaggingMood10"], "topNum": 8, "segments": true}'
    job_id = run_job(page, clip, "tonearm/tagging", params)
    job, (segments,) = job_files(web_server, job_id, "segments")
    js: Callable[..., Any] = page.driver.execute_script
    for task in job["result"]["tasks"]:
        bars = js(
            "return [...document.querySelectorAll('.tag-bar')]"
            ".filter(b => b.dataset.taskType === arguments[0])"
            ".map(b => [b.dataset.label, parseFloat(b.style.width)])",
            task["taskType"],
        )
        assert [label for label, _ in bars] == [t["label"] for t in task["tags"]]
        for (_, width), tag in zip(bars, task["tags"], strict=True):
            assert width == pytest.approx(100 * tag["probability"], abs=0.1)
    labels = sum(len(t["tags"]) for t in job["result"]["tasks"])
    strips = js("return document.querySelectorAll('.lane-tag canvas').length")
    assert strips == labels and len(segments) >= 6  # a 21.6 s clip: 7 segments of 3 s
    assert_offline(page)
    screenshot(page, artifacts, "page-tagging.png")


def test_transcription_draws_a_piano_roll(page: Browser, web_server: Server, clip: Path) -> None:
    job_id = run_job(page, clip, "tonearm/transcribe")
    _, (notes,) = job_files(web_server, job_id, "notes")
    roll = "return document.querySelector('.lane-piano-roll .lane-body').dataset.notes"
    drawn = page.driver.execute_script(roll)
    assert int(drawn) == len(notes) > 20
    assert_offline(page)


def test_stems_play_together_with_solo_and_mute(page: Browser, web_server: Server, clip: Path) -> None:
    job_id = run_job(page, clip, "tonearm/stems")
    js: Callable[..., Any] = page.driver.execute_script
    names = ["vocals", "drums", "bass", "other"]
    assert js("return [...document.querySelectorAll('.lane-stem')].map(l => l.dataset.stem)") == names
    assert js("return [...document.querySelectorAll('#players audio')].map(a => a.dataset.track)") == names
    muted = "return [...document.querySelectorAll('#players audio')].map(a => a.muted)"
    assert js(muted) == [False] * 4
    js("document.querySelector('[data-stem=drums] .solo').click()")
    assert js(muted) == [True, False, True, True]
    js("document.querySelector('[data-stem=bass] .solo').click()")
    js("document.querySelector('[data-stem=bass] .mute').click()")
    assert js(muted) == [True, False, True, True]  # bass soloed but muted
    js("document.querySelectorAll('.lane-stem .on').forEach(b => b.click())")
    assert js(muted) == [False] * 4
    # the stems seek together with the lanes
    js(
        "const b = document.querySelector('[data-stem=other] .lane-body');"
        "const r = b.getBoundingClientRect();"
        "b.dispatchEvent(new MouseEvent('click', {clientX: r.left + r.width / 4, clientY: r.top + 5}));"
    )
    times = wait_until(
        page,
        "const t = [...document.querySelectorAll('#players audio')].map(a => a.currentTime);"
        "return t.every(v => v > 0) && t",
    )
    assert max(times) - min(times) < 0.05 and 5 < times[0] < 7  # a quarter of 24.4 s
    assert server_job_ok(web_server, job_id)
    assert_offline(page)


def test_generation_form_plays_the_result(page: Browser, artifacts: Path) -> None:
    js: Callable[..., Any] = page.driver.execute_script
    js(
        "const f = document.getElementById('generate-form');"
        "f.elements.duration_seconds.value = 3; f.elements.seed.value = 7;"
        "f.elements.prompt.value = 'upbeat jazz with piano and drums';"
        "f.querySelector('button').click();"
    )
    duration = wait_until(
        page,
        "const a = document.querySelector('#generate-result audio');"
        "return a && a.readyState >= 1 && a.duration",
        timeout_s=90,
    )
    assert duration == pytest.approx(3.0, abs=0.2)
    assert_offline(page)


@pytest.mark.parametrize(
    ("path", "rendered"),
    [
        ("/docs", "return document.querySelectorAll('.swagger-ui .opblock').length > 20"),
        ("/redoc", "return document.querySelectorAll('[data-section-id^=\"operation/\"]').length > 20"),
    ],
)
def test_api_docs_render_offline(browser: Browser, web_server: Server, path: str, rendered: str) -> None:
    browser.requested_urls()
    browser.driver.get(web_server.base_url + path)
    wait_until(browser, rendered, timeout_s=30)
    urls = assert_offline(browser)
    assert any(u.endswith("/openapi.json") for u in urls)
