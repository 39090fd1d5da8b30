"""A small class at the protocol level (six pages against ``python app.py``, as
``bench.load`` drives thirty): requests merged, every one answered with its own page's
text, a run that advances under them, memory back after it. Behaviour, never timings."""

from __future__ import annotations

import asyncio
import json

import pytest

from bench.common.page import App, Page
from bench.load import generate, train
from grpo_demo.memory import rss_bytes

pytestmark = pytest.mark.bundled
PAGES = 6


def test_six_pages_are_served_together_and_a_run_keeps_going_under_them(live_app):
    import httpx

    async def lesson():
        async with httpx.AsyncClient(timeout=httpx.Timeout(600)) as client:
            app = App(
                None, live_app.url.rstrip("/"), (await client.get(live_app.url + "config")).json()
            )
            pages = [Page(app, i, client) for i in range(PAGES)]
            await generate(pages[0], 1)  # the model is loaded and warm
            burst = await asyncio.gather(*(generate(p, p.number) for p in pages))

            rss_before = rss_bytes(live_app.pid)
            done = asyncio.Event()
            during = []

            async def student(page: Page) -> None:
                while not done.is_set():
                    during.append(await generate(page, len(during)))

            kids = [asyncio.create_task(student(p)) for p in pages[1:]]
            run = await train(pages[0], "load-six", 2, gens=4, max_len=8)
            done.set()
            await asyncio.gather(*kids)
            return burst, during, run, rss_before, rss_bytes(live_app.pid)

    burst, during, run, rss_before, rss_after = asyncio.run(lesson())
    assert [o.status for o in burst] == ["answered"] * PAGES, [o.message for o in burst]
    statuses = [json.dumps(o.output) for o in burst]
    assert any("one batch with" in s for s in statuses), statuses  # merged across pages
    assert run.status == "answered" and "finished" in json.dumps(run.output), run.message
    assert during and all(o.status == "answered" for o in during), [o.message for o in during]
    saved = json.loads((live_app.checkpoints / "smollm2-135m/load-six/run.json").read_text())
    assert saved["steps"] == 2  # the run went on while the pages sampled
    assert rss_after - rss_before < 0.5e9, (rss_before, rss_after)
