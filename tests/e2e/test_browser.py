"""A person's first notebook, in a real browser: headless Chromium (Debian's chromium + chromium-driver, which
the Makefile installs) opens the environment's URL through LocalCloud's edge (the CloudFront function runs,
with the browser's address on the allow-list), logs in with the token, runs a cell and reads its output."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

pytestmark = pytest.mark.slow

NEURONLAB = Path(sys.executable).parent / "neuronlab"
CHROMIUM, DRIVER = shutil.which("chromium"), shutil.which("chromedriver")


def neuronlab(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(NEURONLAB), *args], env=env, capture_output=True, text=True, timeout=300)


@pytest.fixture
def environment(tmp_path: Path) -> Iterator[tuple[str, str]]:
    """A READY environment on a fresh LocalCloud: (its URL, its token)."""
    env = {**os.environ, "NEURONLAB_STATE_DIR": str(tmp_path / "state")}
    try:
        assert neuronlab(env, "local", "up").returncode == 0
        started = neuronlab(env, "start", "browser", "--local", "--no-benchmark", "--json")
        assert started.returncode == 0, started.stderr[-3000:]
        record = json.loads(started.stdout)
        token = neuronlab(env, "token", "browser", "--local").stdout.strip()
        yield record["url"], token
    finally:
        neuronlab(env, "local", "down")


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[webdriver.Chrome]:
    if CHROMIUM is None or DRIVER is None:
        pytest.fail("headless Chromium is needed: `make test` installs Debian's chromium and chromium-driver")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1280,900"):
        options.add_argument(flag)
    options.accept_insecure_certs = True  # LocalCloud's edge has a self-signed certificate (a person clicks through)
    driver = webdriver.Chrome(service=Service(DRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def test_log_in_with_the_token_and_run_a_cell(environment: tuple[str, str], browser: webdriver.Chrome) -> None:
    url, token = environment
    # a first kernel start on two busy cores has taken more than 90 s (a CI run beside another test run)
    wait = WebDriverWait(browser, 180)
    shot = os.environ.get("NEURONLAB_SCREENSHOT")  # where to keep what the browser showed last

    # Given the notebook's URL: Jupyter asks for the token
    browser.get(url + "lab")
    password = wait.until(expected_conditions.presence_of_element_located((By.ID, "password_input")))
    password.send_keys(token, Keys.ENTER)

    # When the user opens a Python notebook from the launcher and runs a cell
    card = wait.until(expected_conditions.element_to_be_clickable(
        (By.CSS_SELECTOR, ".jp-LauncherCard[data-category='Notebook']")))
    card.click()
    editor = wait.until(expected_conditions.element_to_be_clickable((By.CSS_SELECTOR, ".jp-Cell .cm-content")))
    editor.click()
    editor.send_keys("print(6 * 7, 'from', __import__('os').environ['HOME'].rsplit('/', 1)[-1])")
    editor.send_keys(Keys.SHIFT, Keys.ENTER)

    # Then its output comes back through the edge's websocket
    output = wait.until(expected_conditions.visibility_of_element_located(
        (By.CSS_SELECTOR, ".jp-OutputArea-output")))
    wait.until(lambda _: "42 from browser" in output.text)
    assert browser.current_url.startswith(url)
    if shot:
        browser.save_screenshot(shot)
