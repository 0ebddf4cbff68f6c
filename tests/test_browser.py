"""The widgets in a real browser: JupyterLab + headless Chromium, driven by Playwright.

A notebook using ``%%chat`` and ``%%assistant`` (a function tool) is run cell
by cell in JupyterLab started by the test; the assertions are on the DOM the
widgets draw (step cards, timeline entries, usage rows), and a screenshot is
kept in ``artifacts/``. Needs Debian's ``chromium`` (``apt-get install -y
chromium``) and ``pip install playwright`` — never ``playwright install``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import nbformat
import pytest
from api_helpers import free_port

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

if not Path(CHROMIUM).exists():
    pytest.skip(
        f"no browser: {CHROMIUM} is missing (apt-get install -y chromium)", allow_module_level=True
    )
playwright_api = pytest.importorskip(
    "playwright.sync_api", reason="playwright is not installed (pip install playwright)"
)

CELLS = [
    "%load_ext nbext",
    "%%chat --temperature 0 --max-tokens 20 --history conv --meter\nSay hello in three words.",
    'def get_weather(city: str) -> dict:\n    """Get the current weather for a city."""\n'
    '    return {"city": city, "temperature_c": 21}',
    "%%assistant --functions get_weather --tool-choice required --temperature 0\n"
    "What's the weather in Paris?",
]


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """JupyterLab on 127.0.0.1 with fresh config dirs; yields its URL."""
    root = tmp_path_factory.mktemp("lab")
    dirs = {
        name: root / name.lower()
        for name in (
            "JUPYTER_CONFIG_DIR",
            "JUPYTER_RUNTIME_DIR",
            "JUPYTERLAB_SETTINGS_DIR",
            "JUPYTERLAB_WORKSPACES_DIR",
        )
    }
    for path in dirs.values():
        path.mkdir()
    news = dirs["JUPYTERLAB_SETTINGS_DIR"] / "@jupyterlab" / "apputils-extension"
    news.mkdir(parents=True)
    (news / "notification.jupyterlab-settings").write_text(
        json.dumps({"fetchNews": "false", "checkForUpdates": False})
    )
    notebooks = root / "notebooks"
    notebooks.mkdir()
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(source) for source in CELLS]
    # Without a kernelspec JupyterLab asks which kernel to start, in a dialog.
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nbformat.write(nb, notebooks / "demo.ipynb")  # no outputs, no widget state

    port = free_port()
    env = {
        **os.environ,
        **{k: str(v) for k, v in dirs.items()},
        "NBEXT_DB_URL": f"sqlite:///{root / 'nbext.sqlite3'}",
    }
    env.pop("NBEXT_SERVER_URL", None)
    server = subprocess.Popen(
        [sys.executable, "-m", "jupyter", "lab", "--no-browser", "--allow-root",
         "--ip=127.0.0.1", f"--port={port}", "--ServerApp.port_retries=0",
         "--IdentityProvider.token=", "--ServerApp.password=",
         f"--ServerApp.root_dir={notebooks}"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{url}/api/status", timeout=1).status_code == 200:
                break
        except httpx.TransportError:
            pass
        if server.poll() is not None or time.monotonic() > deadline:
            server.kill()
            pytest.fail("JupyterLab did not start")
        time.sleep(0.3)
    try:
        yield url
    finally:
        for kernel in httpx.get(f"{url}/api/kernels", timeout=5).json():
            httpx.delete(f"{url}/api/kernels/{kernel['id']}", timeout=10)
        server.terminate()
        server.wait(timeout=20)


def test_widgets_render_in_jupyterlab(lab: str, tmp_path: Path) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    with playwright_api.sync_playwright() as driver:
        browser = driver.chromium.launch_persistent_context(
            user_data_dir=str(tmp_path / "chromium"),
            executable_path=CHROMIUM,
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1280, "height": 2400},
        )
        try:
            page = browser.new_page()
            page.goto(f"{lab}/lab/tree/demo.ipynb")
            page.wait_for_selector(".jp-NotebookPanel .jp-Notebook .jp-Cell", timeout=60_000)
            status = "#jp-main-statusbar .jp-StatusBar-TextItem"
            page.wait_for_selector(f"{status}:has-text('| Idle')", timeout=60_000)
            page.locator(".lm-MenuBar-item", has_text="Run").click()
            page.locator("li.lm-Menu-item[data-command='runmenu:run-all']").click()

            page.wait_for_selector(".nbext-usage-row", timeout=180_000)  # %%chat --meter
            page.wait_for_selector(
                ".nbext-timeline-entry[data-status='completed']", timeout=300_000
            )
            page.wait_for_function(
                "document.querySelectorAll('.nbext-step-card').length >= 2", timeout=60_000
            )
            steps = page.locator(".nbext-step-card")
            kinds = [steps.nth(i).get_attribute("data-step-type") for i in range(steps.count())]
            assert kinds == ["tool_calls", "message_creation"]
            statuses = page.locator(".nbext-timeline-entry").evaluate_all(
                "nodes => nodes.map(n => n.dataset.status)"
            )
            assert statuses[0] == "created" and "requires_action" in statuses
            assert statuses[-1] == "completed"
            assert "get_weather" in page.locator(".nbext-tool-function").inner_text()
            assert page.locator(".nbext-role-assistant").count() >= 1
            assert page.locator(".nbext-context-bar").count() == 1
            assert page.locator(".nbext-error-card").count() == 0
            page.locator(".nbext-steps").first.scroll_into_view_if_needed()
            page.screenshot(path=str(ARTIFACTS / "browser_assistant.png"), full_page=True)
        except Exception:
            page.screenshot(path=str(ARTIFACTS / "browser_failure.png"), full_page=True)
            raise
        finally:
            browser.close()
