"""Drives the dashboard in headless Chromium (Debian's chromium and
chromedriver, through selenium): submits the predict form, uploads a CSV
with one bad row, pages the scored table, opens analytics, what-if and live, and
saves a screenshot of each page.

Environment: RTP_DASHBOARD_URL, RTP_SCREENSHOTS (directory), RTP_UPLOAD
(CSV path), RTP_UPLOAD_ROWS, RTP_BAD_LINE, RTP_PAGE_ROWS; CHROMIUM and
CHROMEDRIVER override the binaries. Prints one line per check and
`server-timing PAGE MS` for every page load; exits non-zero on the first
failed check.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

BASE = os.environ["RTP_DASHBOARD_URL"].rstrip("/")
SHOTS = os.environ["RTP_SCREENSHOTS"]
UPLOAD = os.environ["RTP_UPLOAD"]
UPLOAD_ROWS = int(os.environ["RTP_UPLOAD_ROWS"])
BAD_LINE = int(os.environ["RTP_BAD_LINE"])
PAGE_ROWS = int(os.environ["RTP_PAGE_ROWS"])
WAIT_S = 30


def check(condition: bool, what: str) -> None:
    if not condition:
        print(f"FAILED: {what}", flush=True)
        sys.exit(1)
    print(f"ok: {what}", flush=True)


def browser() -> webdriver.Chrome:
    options = webdriver.ChromeOptions()
    options.binary_location = os.environ.get("CHROMIUM", "/usr/bin/chromium")
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--window-size=1360,1000",
        f"--user-data-dir={tempfile.mkdtemp(prefix='rtp-chromium-')}",
    ):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    service = Service(executable_path=os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver"))
    return webdriver.Chrome(service=service, options=options)


def server_timing(driver: webdriver.Chrome, page: str) -> None:
    entries = driver.execute_script(
        "return performance.getEntriesByType('navigation')[0].serverTiming"
        ".map(t => [t.name, t.duration]);"
    )
    app = [d for name, d in entries if name == "app"]
    check(len(app) == 1, f"{page}: Server-Timing reports the server time")
    print(f"server-timing {page} {app[0]:.2f}", flush=True)


def no_console_errors(driver: webdriver.Chrome, page: str) -> None:
    # A blocked script (CSP, integrity) or a failed request shows up here.
    severe = [e for e in driver.get_log("browser") if e.get("level") == "SEVERE"]
    check(not severe, f"{page}: no console errors {json.dumps(severe)[:400]}")


def shot(driver: webdriver.Chrome, name: str) -> None:
    # Full-page height, so the screenshot shows everything the page holds.
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(1360, max(1000, min(int(height) + 40, 6000)))
    driver.save_screenshot(os.path.join(SHOTS, f"{name}.png"))
    driver.set_window_size(1360, 1000)


def open_page(driver: webdriver.Chrome, path: str, page: str) -> None:
    driver.get(BASE + path)
    WebDriverWait(driver, WAIT_S).until(
        lambda d: d.execute_script("return document.readyState") == "complete"
        and d.execute_script("return typeof htmx !== 'undefined'")
    )
    check(True, f"{page}: loaded with htmx")
    server_timing(driver, page)
    model = driver.find_element(By.ID, "model-info").text
    check("model" in model and "trained" in model and "none" not in model, f"{page}: model version and training date shown ({model})")


def predict(driver: webdriver.Chrome) -> None:
    open_page(driver, "/predict", "predict")
    fields = {
        "nodes": "4",
        "processors": "144",
        "wallclock": "10-00:00:00",
        "user": "<b>mallory</b>",
        "account": "acct01",
    }
    for name, value in fields.items():
        box = driver.find_element(By.NAME, name)
        box.clear()
        box.send_keys(value)
    driver.find_element(By.ID, "predict-submit").click()
    wait = WebDriverWait(driver, WAIT_S)
    result = wait.until(EC.presence_of_element_located((By.ID, "prediction-result")))
    p50 = result.find_element(By.ID, "p50").text
    check(any(unit in p50 for unit in ("s", "min", "h", "d")), f"predict: p50 shown ({p50})")
    likely = result.find_element(By.ID, "likely").text
    check(any(unit in likely for unit in ("s", "min", "h", "d")), f"predict: the likely runtime shown ({likely})")
    check(" – " in result.find_element(By.ID, "interval").text, "predict: p10–p90 interval shown")
    check(":" in result.find_element(By.ID, "suggested").text, "predict: suggested wallclock shown")
    alert = result.find_elements(By.ID, "overestimation-alert")
    check(len(alert) == 1 and "node-hours" in alert[0].text, "predict: a 10-day request raises the overestimation alert with node-hours")
    echo = result.find_element(By.ID, "echo-user")
    check(echo.text == "<b>mallory</b>" and not echo.find_elements(By.TAG_NAME, "b"), "predict: the user string is shown as text, not markup")
    check(len(result.find_elements(By.CSS_SELECTOR, "table.contributions tbody tr")) >= 1, "predict: feature contributions listed")
    no_console_errors(driver, "predict")
    shot(driver, "predict")

    # A bad field is reported by name and the page keeps working.
    box = driver.find_element(By.NAME, "nodes")
    box.clear()
    box.send_keys("0")
    driver.find_element(By.ID, "predict-submit").click()
    error = wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, "#prediction .error")))
    check("nodes: must be at least 1" in error.text, "predict: an invalid field is named")
    # The browser logs that deliberate 422; it is not a fault of the page.
    driver.get_log("browser")


def batch(driver: webdriver.Chrome) -> None:
    open_page(driver, "/batch", "batch")
    driver.find_element(By.ID, "batch-file").send_keys(UPLOAD)
    driver.find_element(By.ID, "batch-submit").click()
    wait = WebDriverWait(driver, WAIT_S)
    wait.until(EC.presence_of_element_located((By.ID, "batch-summary")))
    total = driver.find_element(By.ID, "rows-total").text
    scored = driver.find_element(By.ID, "rows-scored").text
    failed = driver.find_element(By.ID, "rows-failed").text
    check((total, scored, failed) == (str(UPLOAD_ROWS), str(UPLOAD_ROWS - 1), "1"), f"batch: {total} rows, {scored} scored, {failed} with an error")
    rows = driver.find_elements(By.CSS_SELECTOR, "#scored-rows tbody tr")
    first_page = min(PAGE_ROWS, UPLOAD_ROWS)
    check(len(rows) == first_page, f"batch: the first page holds {first_page} rows")
    bad = driver.find_elements(By.CSS_SELECTOR, f"tr.row-error[data-line='{BAD_LINE}']")
    check(len(bad) == 1 and "nodes_req: must be at least 1" in bad[0].text, f"batch: line {BAD_LINE} shows its error")
    csv_url = driver.find_element(By.ID, "csv-download").get_attribute("href")
    text = driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "fetch(arguments[0]).then(r => r.text()).then(done, e => done('ERROR ' + e));",
        csv_url,
    )
    lines = text.strip().split("\n")
    check(len(lines) == UPLOAD_ROWS + 1 and lines[0].startswith("line,job_id"), "batch: the CSV download has every row")
    no_console_errors(driver, "batch")
    shot(driver, "batch")
    if UPLOAD_ROWS > PAGE_ROWS:
        driver.find_element(By.ID, "page-next").click()
        wait.until(EC.text_to_be_present_in_element((By.ID, "page-number"), "page 2 of"))
        check(True, "batch: the next page loads in place")


def analytics(driver: webdriver.Chrome) -> None:
    open_page(driver, "/analytics", "analytics")
    rows = driver.find_elements(By.CSS_SELECTOR, "#predictors tbody tr")
    names = [r.find_elements(By.TAG_NAME, "td")[0].text for r in rows]
    check("ensemble" in names and "user_request" in names and "last2" in names, f"analytics: model vs baselines ({names})")
    charts = driver.find_elements(By.CSS_SELECTOR, "svg.chart")
    check(len(charts) >= 5, f"analytics: {len(charts)} charts drawn")
    points = driver.find_elements(By.CSS_SELECTOR, "svg.chart circle.point")
    check(len(points) > 50, f"analytics: {len(points)} points in predicted vs actual")
    check(len(driver.find_elements(By.CSS_SELECTOR, "#buckets tbody tr")) == 6, "analytics: six runtime buckets")
    ranked = driver.find_elements(By.CSS_SELECTOR, "#partitions tbody tr")
    check(len(ranked) >= 1 or driver.find_elements(By.ID, "no-partitions"), "analytics: partitions ranked (or their absence said)")
    no_console_errors(driver, "analytics")
    shot(driver, "analytics")


def whatif(driver: webdriver.Chrome) -> None:
    open_page(driver, "/whatif", "whatif")
    rows = driver.find_elements(By.CSS_SELECTOR, "#runs tbody tr")
    runs = [[td.text for td in r.find_elements(By.TAG_NAME, "td")][:2] for r in rows]
    check(["test period", "requests"] in runs and ["test period", "suggestions"] in runs and ["test period", "predictions"] in runs and ["test period", "perfect"] in runs,
          f"whatif: the test period with requests, suggestions, predictions and perfect knowledge ({runs})")
    check(len(driver.find_elements(By.CSS_SELECTOR, "svg.chart")) == 3, "whatif: wait, slowdown and daily charts drawn")
    lines = driver.find_elements(By.CSS_SELECTOR, "svg.chart path.line")
    check(len(lines) == 4, f"whatif: {len(lines)} daily lines")
    check("the mean wait goes from" in driver.find_element(By.ID, "verdict").text, "whatif: the verdict is said")
    no_console_errors(driver, "whatif")
    shot(driver, "whatif")


LIVE_SNAPSHOT_JS = """
const at = document.getElementById('live-at');
return {
  at: at ? at.textContent.trim() : null,
  services: document.querySelectorAll('.service').length,
  down: document.querySelectorAll('.service-down').length,
  rates: Array.from(document.querySelectorAll('.service .rate'), e => e.textContent.trim()),
};
"""


def live_snapshot(driver: webdriver.Chrome) -> dict:
    # htmx swaps the polled fragment at any moment; one script reads it whole,
    # so no element can be replaced between finding it and reading it.
    return driver.execute_script(LIVE_SNAPSHOT_JS)


def live(driver: webdriver.Chrome) -> None:
    open_page(driver, "/live", "live")
    first = live_snapshot(driver)
    check(first["services"] == 2, "live: edge and Flight shown")
    check(first["down"] == 0, "live: both services answer")
    # htmx polls the fragment; wait for a newer reading to be swapped in.
    WebDriverWait(driver, WAIT_S).until(lambda d: live_snapshot(d)["at"] not in (None, first["at"]))
    check(True, "live: the reading refreshes by polling")
    rates = live_snapshot(driver)["rates"]
    check(len(rates) == 2 and all("/s" in r for r in rates), f"live: rates shown ({rates})")
    no_console_errors(driver, "live")
    shot(driver, "live")


def main() -> None:
    os.makedirs(SHOTS, exist_ok=True)
    driver = browser()
    try:
        predict(driver)
        batch(driver)
        analytics(driver)
        whatif(driver)
        live(driver)
    finally:
        driver.quit()
    print("all checks passed", flush=True)


if __name__ == "__main__":
    main()
