"""dyntemp report: the run's page, opened in a real headless Chromium (Debian's, driven by Playwright)."""

from __future__ import annotations

import json
import re

import numpy as np
from playwright.sync_api import sync_playwright

from dyntemp.cli import main
from dyntemp.core.settings import SamplerSettings
from dyntemp.core.trace import Trace, TraceRecord
from dyntemp.records import GenerationRecord

CHROMIUM = "/usr/bin/chromium"
SETTINGS = {"constant:temperature=0.4": 0.4, "constant:temperature=0.8": 0.8, "constant:temperature=1.2": 1.2,
            "edt": 0.7}


def _run_folder(tmp_path):
    """A run of 30 qa items, 2 seeds, three constant settings and edt, each reply with its trace."""
    rng = np.random.default_rng(1)
    lines = []
    for setting, t in SETTINGS.items():
        for item in range(30):
            for seed in range(2):
                temps = rng.uniform(0.2, 1.4, 6) if setting == "edt" else np.full(6, t)
                trace = Trace([TraceRecord(i, 100 + i, f" w<{i}>", float(temps[i]), 1.5, 1.0, 10, 0.5, i // 3, i % 3,
                                           None, -0.7) for i in range(6)])
                record = GenerationRecord(
                    "".join(r.piece for r in trace), "length", SamplerSettings(setting, seed=seed), trace, suite="qa",
                    item=f"q{item:02d}", scores={"correct": float(rng.random() < 0.8 - 0.3 * t)},
                    metrics={"temperature_mean": float(temps.mean()), "distinct_2": 0.5 + 0.3 * t + rng.normal(0, .01),
                             "loop": 0.0, "nll": 1.0 + t, "length": 6})
                lines.append(json.dumps(record.to_dict()) + "\n")
    (tmp_path / "generations.jsonl").write_text("".join(lines))
    (tmp_path / "sweep.json").write_text(json.dumps({"model": "/models/test.gguf", "sampler": {"top_k": 40}}))
    return tmp_path


def test_the_report_loads_offline_with_every_part_and_a_hover_per_token(tmp_path, capsys):
    (tmp_path / "run").mkdir()
    run = _run_folder(tmp_path / "run")
    out = tmp_path / "report.html"
    assert main(["report", str(run), "-o", str(out)]) == 0
    page_text = out.read_text()
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page_text)  # nothing from the network
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page()
        errors, requests = [], []
        page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.on("request", lambda request: requests.append(request.url))
        page.goto(out.as_uri())
        assert "/models/test.gguf" in page.inner_text("dl") and "top_k=40" in page.inner_text("dl")
        assert page.locator("table.summary tr").count() == 1 + len(SETTINGS)
        images = page.locator(".figures img")
        assert images.count() == 2
        assert all(images.nth(i).evaluate("i => i.complete && i.naturalWidth > 300") for i in range(2))
        compare = page.inner_text("table.compare")
        assert "edt" in compare and "equal temperature" in compare and "McNemar" in compare
        assert page.locator(".example").count() == len(SETTINGS)
        token = page.locator('.example[data-setting="edt"] .t').nth(2)
        assert token.inner_text() == " w<2>"
        assert re.search(r"temperature: \d\.\d{3}", token.get_attribute("title"))
        token.hover()
        assert token.evaluate("e => getComputedStyle(e).outlineStyle") == "solid"
        colours = {page.locator('.example[data-setting="edt"] .t').nth(i).evaluate("e => e.style.background")
                   for i in range(6)}
        assert len(colours) > 1  # edt's temperatures differ token by token, and so do their colours
        browser.close()
    assert errors == [] and all(url.startswith(("file:", "data:")) for url in requests)


def test_a_bad_report_request_is_one_line(tmp_path, capsys):
    run = _run_folder(tmp_path)
    for argv, message in (
            (["report", str(tmp_path / "none"), "-o", "x.html"], "no generations.jsonl in"),
            (["report", str(run), "-o", str(tmp_path / "no" / "x.html")], "--out"),
            (["report", str(run), "-o", str(tmp_path / "r.html"), "--quality", "bleu"], "metric 'bleu' is not one of")):
        try:
            main(argv)
        except SystemExit as exit_:
            assert exit_.code == 2
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
