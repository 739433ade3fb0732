"""pytest plugin used by compat/peer-suites/kafka-python/run (loaded with `-p kp_resultlog`).

Appends one JSON object per line to the file named by $KP_RESULTS, flushed at once, so the runner
knows which test is running and how each one ended even if it has to kill the pytest process:

  {"event": "collected", "nodeids": [...]}
  {"event": "start", "nodeid": ...}
  {"event": "result", "nodeid": ..., "outcome": "passed|failed|error|skipped|timeout",
   "duration": s, "phase": "setup|call|teardown", "message": short, "text": long}
  {"event": "finish", "exitstatus": n}

outcome: "error" = setup or teardown failed, "timeout" = pytest-timeout stopped it.
"""

import json
import os
import time

_path = os.environ.get("KP_RESULTS")
_reports = {}


def _emit(obj):
    if not _path:
        return
    obj["t"] = time.time()
    with open(_path, "a", encoding="utf-8") as f:
        f.write(json.dumps(obj) + "\n")
        f.flush()


def _short(report):
    crash = getattr(report.longrepr, "reprcrash", None)
    if crash is not None and getattr(crash, "message", None):
        return crash.message
    if isinstance(report.longrepr, tuple) and len(report.longrepr) == 3:  # skip: (file, line, reason)
        return str(report.longrepr[2])
    text = report.longreprtext or ""
    lines = [ln for ln in text.splitlines() if ln.startswith("E ")]
    return (lines[-1] if lines else text.strip().splitlines()[-1] if text.strip() else "")[:2000]


def pytest_collection_finish(session):
    _emit({"event": "collected", "nodeids": [item.nodeid for item in session.items]})


def pytest_runtest_logstart(nodeid, location):
    _reports[nodeid] = []
    _emit({"event": "start", "nodeid": nodeid})


def pytest_runtest_logreport(report):
    _reports.setdefault(report.nodeid, []).append(report)


def pytest_runtest_logfinish(nodeid, location):
    reports = _reports.pop(nodeid, [])
    outcome, phase, message, text = "passed", "call", "", ""
    duration = sum(getattr(r, "duration", 0.0) for r in reports)
    for r in reports:
        if r.skipped and r.when in ("setup", "call"):
            outcome, phase, message = "skipped", r.when, _short(r)
            break
        if r.failed:
            phase = r.when
            outcome = "failed" if r.when == "call" else "error"
            message = _short(r)
            text = (r.longreprtext or "")
            if "Timeout (>" in text[-4000:] or "Timeout (>" in message:
                outcome = "timeout"
            # keep the captured sections (the client's DEBUG log) but bound the size
            for name, content in r.sections:
                text += f"\n----- {name} -----\n{content}"
            if len(text) > 400_000:
                text = text[:100_000] + "\n...[cut]...\n" + text[-300_000:]
            break
    _emit({"event": "result", "nodeid": nodeid, "outcome": outcome, "duration": round(duration, 2),
           "phase": phase, "message": message, "text": text})


def pytest_sessionfinish(session, exitstatus):
    _emit({"event": "finish", "exitstatus": int(exitstatus)})
