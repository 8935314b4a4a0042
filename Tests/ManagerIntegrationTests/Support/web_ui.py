"""Drives the web view (/ui/) in a real headless Chromium through selenium, as a person would, for WebViewTests.

    web_ui.py SCENARIO '{"endpoint": ..., "shots": DIR, ...}'

Each scenario asserts what a person would see, writes screenshots into `shots`, and exits 0; any failure exits
non-zero with a message (and a screenshot named `failure-SCENARIO.png`).
"""
import json
import os
import shutil
import sys
import tempfile
import time
import urllib.request

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait


def browser(profile):
    options = webdriver.ChromeOptions()
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,900",
                 "--no-first-run", "--disable-extensions", "--disable-background-networking"):
        options.add_argument(flag)
    options.add_argument("--user-data-dir=" + profile)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)


def wait(driver, condition, timeout=30, message=""):
    return WebDriverWait(driver, timeout, poll_frequency=0.1).until(condition, message)


def text_of(driver, css):
    return driver.find_element(By.CSS_SELECTOR, css).text


def sign_in(driver, endpoint, access_key, secret_key):
    driver.get(endpoint + "/ui/")
    wait(driver, EC.presence_of_element_located((By.ID, "sign-in")), message="the sign-in form")
    driver.find_element(By.ID, "access-key").send_keys(access_key)
    driver.find_element(By.ID, "secret-key").send_keys(secret_key)
    driver.find_element(By.ID, "sign-in-button").click()
    wait(driver, lambda d: d.find_element(By.ID, "who").text.strip() != "", message="signed in")


def fetch_status(driver, path, method="GET", csrf=False):
    """What the page's own fetch() gets for `path` (its cookie, and its CSRF token when asked)."""
    return driver.execute_async_script(
        """
        const [path, method, csrf, done] = arguments;
        const headers = {};
        if (csrf) { const me = await (await fetch('/ui/me')).json(); headers['X-CSRF-Token'] = me.csrf_token; }
        fetch(path, {method, headers, credentials: 'same-origin'}).then(r => done(r.status), e => done(String(e)));
        """, path, method, csrf)


def scenario_waiting(driver, args):
    """Sign in; the queue shows the waiting session and its reason; the session page says why; sign-out ends access."""
    endpoint, shots = args["endpoint"], args["shots"]
    sign_in(driver, endpoint, args["access_key"], args["secret_key"])
    group = args["group"]
    card = '[data-group="%s"]' % group
    wait(driver, EC.presence_of_element_located((By.CSS_SELECTOR, card)), message="the scaling group card")
    wait(driver, lambda d: "reserved_time" in text_of(d, card + " [data-reasons]"),
         message="the waiting reason in the queue: " + text_of(driver, card))
    reasons = text_of(driver, card + " [data-reasons]")
    assert reasons.startswith("1 waiting: 1 reserved_time"), reasons
    driver.save_screenshot(os.path.join(shots, "queues.png"))

    driver.get(endpoint + "/ui/#/sessions")
    wait(driver, EC.presence_of_element_located((By.CSS_SELECTOR, '[data-session="%s"]' % args["session_id"])),
         message="the session in the list")
    assert "1 of 1" in text_of(driver, "#session-count") or "of 1" in text_of(driver, "#session-count"), text_of(driver, "#session-count")
    driver.save_screenshot(os.path.join(shots, "sessions.png"))

    driver.find_element(By.CSS_SELECTOR, '[data-session="%s"] a' % args["session_id"]).click()
    wait(driver, EC.presence_of_element_located((By.CSS_SELECTOR, '#failed-predicates [data-predicate="reserved_time"]')),
         message="why it waits")
    assert "PENDING" in text_of(driver, "#timeline"), text_of(driver, "#timeline")
    driver.save_screenshot(os.path.join(shots, "session-waiting.png"))

    # Keyboard: the first tab stop is the skip link, and the navigation is reachable by keyboard.
    assert driver.find_element(By.CSS_SELECTOR, "a.skip").get_attribute("href").endswith("#main")

    # Sign-out: the cookie's sign-in is gone; the page's fetches now get 401, and the view asks to sign in again.
    assert fetch_status(driver, "/ui/api/scheduler/queues") == 200
    driver.find_element(By.ID, "sign-out").click()
    wait(driver, EC.presence_of_element_located((By.ID, "sign-in")), message="the sign-in form after sign-out")
    assert fetch_status(driver, "/ui/api/scheduler/queues") == 401
    driver.get(endpoint + "/ui/#/session/" + args["session_id"])
    wait(driver, EC.presence_of_element_located((By.ID, "sign-in")), message="sign-in required after sign-out")
    assert not driver.find_elements(By.ID, "failed-predicates")

    # A sign-in with a wrong secret is refused with a message.
    driver.find_element(By.ID, "access-key").send_keys(args["access_key"])
    driver.find_element(By.ID, "secret-key").send_keys("wrong-secret")
    driver.find_element(By.ID, "sign-in-button").click()
    wait(driver, lambda d: "wrong" in d.find_element(By.ID, "sign-in-error").text, message="the refusal")
    driver.save_screenshot(os.path.join(shots, "sign-in-refused.png"))


def node_states(driver):
    """Each drawn node's status, class and x, read in one script (the graph is redrawn as events arrive)."""
    return {entry[0]: (entry[1], entry[2], entry[3]) for entry in driver.execute_script(
        """return [...document.querySelectorAll('#dag [data-node]')].map(n =>
               [n.dataset.node, n.dataset.status, n.getAttribute('class'), Number(n.querySelector('rect').getAttribute('x'))]);""")}


def scenario_chain(driver, args):
    """A chain of three sessions drawn as a DAG, turning green as they finish (no reload)."""
    endpoint, shots = args["endpoint"], args["shots"]
    sign_in(driver, endpoint, args["access_key"], args["secret_key"])
    driver.get(endpoint + "/ui/#/session/" + args["last"])
    wait(driver, lambda d: len(node_states(d)) == 3, message="three nodes in the graph")
    first = node_states(driver)
    assert set(first) == set(args["chain"]), first
    assert any("st-done" not in cls for _, cls, _ in first.values()), "all done before the page looked: %s" % first
    edges = driver.execute_script("return document.querySelectorAll('#dag line.edge').length")
    assert edges == 2, "a chain of three has two edges, saw %d" % edges
    # Layered: each session is drawn right of the one it depends on.
    xs = [first[i][2] for i in args["chain"]]
    assert xs[0] < xs[1] < xs[2], xs
    driver.save_screenshot(os.path.join(shots, "graph-running.png"))
    seen_states = set()

    def all_green(d):
        states = node_states(d)
        seen_states.update(s for s, _, _ in states.values())
        return len(states) == 3 and all("st-done" in cls for _, cls, _ in states.values())
    wait(driver, all_green, timeout=90, message="all three green: %s" % node_states(driver))
    assert "TERMINATED" in seen_states
    # Each node is a link to its session, reachable by keyboard.
    link = driver.execute_script(
        "const n = document.querySelector('#dag [data-node=\"' + arguments[0] + '\"]'); return [n.getAttribute('href'), n.getAttribute('tabindex')];",
        args["chain"][0])
    assert link == ["#/session/" + args["chain"][0], "0"], link
    assert "✓" in driver.find_element(By.CSS_SELECTOR, "#dag").text  # not colour alone
    driver.save_screenshot(os.path.join(shots, "graph-done.png"))
    # The live events list got the chain's events.
    assert "session_success" in text_of(driver, "#events") or "session_terminated" in text_of(driver, "#events"), text_of(driver, "#events")


def scenario_clone(driver, args):
    """A clone's progress bar moves as progress events arrive and reaches 100 %, with the result."""
    endpoint, shots = args["endpoint"], args["shots"]
    sign_in(driver, endpoint, args["access_key"], args["secret_key"])
    driver.get(endpoint + "/ui/#/tasks")
    row = '[data-task="%s"]' % args["task_id"]
    wait(driver, EC.presence_of_element_located((By.CSS_SELECTOR, row)), message="the clone's row")
    percents = []

    def done(d):
        percent = d.find_element(By.CSS_SELECTOR, row + " .progress-text").get_attribute("data-percent")
        if percent is not None and (not percents or percents[-1] != percent):
            percents.append(percent)
            if len(percents) == 2:
                d.save_screenshot(os.path.join(shots, "clone-progress.png"))
        return d.find_element(By.CSS_SELECTOR, row + " .outcome").get_attribute("data-outcome") == "done"
    wait(driver, done, timeout=90, message="the clone finished")
    assert percents[-1] == "100", percents
    assert len(percents) >= 3, "the bar should move through several values before 100: %s" % percents
    value = driver.find_element(By.CSS_SELECTOR, row + " progress")
    assert float(value.get_attribute("value")) >= float(value.get_attribute("max")), (value.get_attribute("value"), value.get_attribute("max"))
    driver.save_screenshot(os.path.join(shots, "clone-done.png"))


def scenario_isolation(driver, args):
    """Another user sees neither the session in the list nor its page by URL."""
    endpoint, shots = args["endpoint"], args["shots"]
    sign_in(driver, endpoint, args["access_key"], args["secret_key"])
    driver.get(endpoint + "/ui/#/sessions")
    wait(driver, EC.presence_of_element_located((By.ID, "session-count")), message="the list")
    assert not driver.find_elements(By.CSS_SELECTOR, '[data-session="%s"]' % args["foreign_id"]), "another user's session is listed"
    assert text_of(driver, "#session-count").endswith("of 0"), text_of(driver, "#session-count")
    driver.get(endpoint + "/ui/#/session/" + args["foreign_id"])
    wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "main .error"), message="a refusal by URL")
    assert not driver.find_elements(By.ID, "dag")
    assert fetch_status(driver, "/ui/api/session/%s/logs" % args["foreign_id"]) == 404
    assert fetch_status(driver, "/ui/api/session/%s?owner_access_key=%s" % (args["foreign_id"], args["foreign_key"])) == 403
    # Admin-only views refuse too.
    assert fetch_status(driver, "/ui/api/webhooks/deliveries") == 403
    driver.save_screenshot(os.path.join(shots, "isolation.png"))


def scenario_cross_site(driver, args):
    """A page on another site posts to the daemon: the browser sends no cookie (SameSite=Strict), nothing happens."""
    endpoint, shots, evil = args["endpoint"], args["shots"], args["evil"]
    sign_in(driver, endpoint, args["access_key"], args["secret_key"])
    driver.get(evil + "/evil.html")
    wait(driver, lambda d: d.execute_script("return document.readyState") == "complete" and "evil" not in d.current_url,
         timeout=15, message="the cross-site form posted")
    driver.save_screenshot(os.path.join(shots, "cross-site.png"))
    # Still signed in: the forged sign-out did nothing, and the forged session was not created.
    driver.get(endpoint + "/ui/")
    wait(driver, lambda d: d.find_element(By.ID, "who").text.strip() != "", message="still signed in")
    assert fetch_status(driver, "/ui/api/session/forged/logs") == 404
    # The page's own state-changing fetch without the token is refused, with it accepted.
    assert fetch_status(driver, "/ui/api/session/" + args["session_id"], method="DELETE") == 403
    assert fetch_status(driver, "/ui/api/session/" + args["session_id"], method="DELETE", csrf=True) in (200, 204)


def scenario_views(driver, args):
    """An admin's agents and webhook views, and a narrow window."""
    endpoint, shots = args["endpoint"], args["shots"]
    sign_in(driver, endpoint, args["access_key"], args["secret_key"])
    driver.get(endpoint + "/ui/#/agents")
    wait(driver, EC.presence_of_element_located((By.CSS_SELECTOR, '[data-agent="%s"]' % args["agent"])), message="the agent row")
    assert "ALIVE" in text_of(driver, '[data-agent="%s"]' % args["agent"])
    driver.save_screenshot(os.path.join(shots, "agents.png"))
    driver.get(endpoint + "/ui/#/webhooks?status=refused")
    wait(driver, EC.presence_of_element_located((By.CSS_SELECTOR, "#deliveries tbody tr")), message="the refused deliveries")
    row = driver.find_element(By.CSS_SELECTOR, "#deliveries tbody tr")
    assert "refused" in row.text, row.text
    driver.save_screenshot(os.path.join(shots, "webhooks.png"))
    row.find_element(By.TAG_NAME, "button").click()  # Redeliver: a POST with the CSRF token, then the list again
    wait(driver, EC.staleness_of(row), message="the list reloaded after the redelivery")
    assert driver.find_element(By.ID, "status").text == "", driver.find_element(By.ID, "status").text
    # Keyboard only: Tab from the top reaches the skip link, then the title, then the views; Enter opens one.
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.keys import Keys
    driver.get(endpoint + "/ui/#/queues")
    wait(driver, EC.presence_of_element_located((By.CSS_SELECTOR, ".group")), message="queues before the keyboard walk")
    driver.execute_script("document.activeElement && document.activeElement.blur(); window.focus();")
    focused = []
    for _ in range(6):
        ActionChains(driver).send_keys(Keys.TAB).perform()
        # The document itself (body) may take the first Tab: only elements count.
        text = driver.execute_script(
            "const e = document.activeElement; return e && e !== document.body ? e.textContent.trim() : null;")
        if text is not None:
            focused.append(text)
        if len(focused) == 4:
            break
    assert focused == ["Skip to content", "Session manager", "Queues", "Sessions"], focused
    ActionChains(driver).send_keys(Keys.ENTER).perform()
    wait(driver, EC.presence_of_element_located((By.ID, "session-count")), message="Enter on 'Sessions' opens the list")
    driver.set_window_size(420, 900)
    driver.get(endpoint + "/ui/#/queues")
    wait(driver, EC.presence_of_element_located((By.CSS_SELECTOR, ".group")), message="queues in a narrow window")
    width = driver.execute_script("return document.documentElement.scrollWidth")
    assert width <= 430, "the page should fit a narrow window, scroll width %s" % width
    driver.save_screenshot(os.path.join(shots, "narrow.png"))
    # The page loads no script or style from anywhere but the daemon, and the CSP says so.
    csp = urllib.request.urlopen(endpoint + "/ui/").headers.get("Content-Security-Policy")
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp, csp
    # The first load asks /ui/me before anyone signed in: that 401 is the expected answer, not an error.
    errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE" and "favicon" not in e["message"]
              and not ("/ui/me" in e["message"] and "401" in e["message"])]
    assert not errors, errors


def scenario_first_load(driver, args):
    """Benchmark: the time from navigation to the sessions view's first painted page, after signing in, with the
    browser's cache cleared before each run (printed as JSON)."""
    endpoint = args["endpoint"]
    sign_in(driver, endpoint, args["access_key"], args["secret_key"])
    times, parts = [], []
    for _ in range(args.get("runs", 10)):
        driver.get("about:blank")
        driver.execute_cdp_cmd("Network.clearBrowserCache", {})
        driver.get(endpoint + "/ui/" + args.get("view", "#/sessions"))
        wait(driver, EC.presence_of_element_located((By.CSS_SELECTOR, "#sessions tbody tr")), message="the table")
        # Measured by the page itself: from the navigation's start to the list's first paint (performance.mark).
        rendered = wait(driver, lambda d: d.execute_script(
            "const m = performance.getEntriesByName('sessions-rendered'); return m.length ? m[0].startTime : null;"),
            message="the page's mark")
        times.append(float(rendered))
        count = text_of(driver, "#session-count")
        # Where the time went: the page's own timings of the document, its script and each API call.
        parts.append(driver.execute_script(
            """const nav = performance.getEntriesByType('navigation')[0];
               const out = {document_ms: nav.responseEnd, dom_content_loaded_ms: nav.domContentLoadedEventEnd};
               for (const r of performance.getEntriesByType('resource')) {
                 const name = r.name.replace(/^https?:[/][/][^/]+/, '').replace(/[?].*$/, '');
                 out[name] = Math.round(r.duration * 10) / 10;
               }
               return out;"""))
    times.sort()
    middle = parts[len(parts) // 2]
    print(json.dumps({"runs": len(times), "p50_ms": times[len(times) // 2], "max_ms": times[-1], "count": count,
                      "one_run": middle}))


def main():
    name, args = sys.argv[1], json.loads(sys.argv[2])
    os.makedirs(args["shots"], exist_ok=True)
    profile = tempfile.mkdtemp(prefix="web-ui-profile-")
    driver = browser(profile)
    try:
        globals()["scenario_" + name](driver, args)
    except BaseException:
        try:
            driver.save_screenshot(os.path.join(args["shots"], "failure-%s.png" % name))
            sys.stderr.write("page text at failure:\n%s\n" % driver.find_element(By.TAG_NAME, "body").text[:3000])
            for entry in driver.get_log("browser"):
                sys.stderr.write("console: %s\n" % entry)
        except Exception:
            pass
        raise
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


if __name__ == "__main__":
    main()
