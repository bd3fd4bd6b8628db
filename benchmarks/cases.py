"""The benchmarks themselves (see benchmarks/run.py and docs/performance.md)."""

import io
import re
import shutil
import subprocess
import sys
import time
from urllib.parse import quote

from benchmarks import world
from benchmarks.stats import median, percentile

RECORD_COLUMNS = None  # filled on first use: every column of records_record except the id


def run_all(suite, server, only):
    state = {}
    steps = [
        ("B1", b1_full_sync),
        ("B1F", b1f_fetch_only),
        ("B2", b2_resync),
        ("B3", b3_pages),
        ("B4", b4_load),
        ("B5", b5_directory_import),
        ("B6", b6_fan_out),
        ("B7", b7_memory),
    ]
    needs = {"B1F": {"B1"}, "B2": {"B1"}, "B3": {"B1"}, "B4": {"B1", "B3"}, "B7": {"B1"}}
    selected = set(only) or {key for key, _ in steps}
    for key in list(selected):
        selected |= needs.get(key, set())
    for key, step in steps:
        if key in selected:
            print(f"-- {key}", flush=True)
            step(suite, server, state)


# --- B1: a full sync of one big patient, against PostgreSQL COPY of the same rows ----------------


def b1_full_sync(suite, server, state):
    from institutions import domain, sync

    hospital = world.mock_hospital("bench-big", seed=11, size=suite.size, hira="90000001")
    institution = world.onboard(server, hospital)
    user = world.patient(1)
    world.known_at(hospital, user, size=suite.size)
    times, copy_rates, counts = [], [], []
    for attempt in range(suite.repeats):
        source = domain.link_institution(patient=user, institution=institution)
        run = source.runs.get()
        started = time.perf_counter()
        status = sync.execute_run(run_id=run.pk)
        elapsed = time.perf_counter() - started
        run.refresh_from_db()
        assert status == "succeeded", run.error
        times.append(elapsed)
        counts.append(run.fetched)
        copy_rates.append(_copy_rate(source))
        if attempt < suite.repeats - 1:
            domain.unlink_source(source=source, purge=True)
    fetched = counts[-1]
    rate = fetched / median(times)
    baseline = median(copy_rates)
    validation_rate = _validation_rate(source)
    # What autovacuum does after a bulk load (and after B1's repeated deletes), at once: the
    # pages below are measured on a table in its steady state, not on stale statistics.
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE records_record")
    state.update(
        user=user,
        institution=institution,
        hospital=hospital,
        source=source,
        b1_seconds=median(times),
        b1_rate=rate,
        copy_rate=baseline,
    )
    suite.report(
        "B1",
        value=rate,
        unit="resources/s",
        baseline=baseline,
        ratio=rate / baseline,
        goal="≥ 0.5 of COPY",
        met=rate / baseline >= 0.5,
        resources=fetched,
        seconds_median=median(times),
        seconds_all=[round(t, 2) for t in times],
        strict_validation_alone_per_s=validation_rate,
        validation_share_of_sync_time=rate / validation_rate,
    )


def _validation_rate(source) -> float:
    """Resources per second that validation alone (records.validation: the official R4 JSON
    Schema, compiled by jsonschema-rs, with its additions) manages, on the same resources, in
    this process: the part of B1 spent validating is rate / this."""
    from records.models import Record
    from records.validation import validate

    resources = list(Record.objects.filter(source=source).values_list("resource", flat=True))
    started = time.perf_counter()
    for resource in resources:
        validate(resource)
    return len(resources) / (time.perf_counter() - started)


def _copy_rate(source) -> float:
    """Rows per second of PostgreSQL COPY of this source's records into the same table (with
    its indexes), the rows deleted first and restored by the COPY itself."""
    from django.db import connection, transaction

    from records.models import Record

    global RECORD_COLUMNS
    if RECORD_COLUMNS is None:
        RECORD_COLUMNS = [f.column for f in Record._meta.concrete_fields if f.column != "id"]
    columns = ", ".join(f'"{c}"' for c in RECORD_COLUMNS)
    buffer = io.BytesIO()
    with (
        connection.cursor() as cursor,
        cursor.copy(
            f"COPY (SELECT {columns} FROM records_record WHERE source_id = %s) TO STDOUT",
            [source.pk],
        ) as copy,
    ):
        for chunk in copy:
            buffer.write(chunk)
    rows = Record.objects.filter(source=source).count()
    with transaction.atomic():
        Record.objects.filter(source=source)._raw_delete(Record.objects.db)
        with connection.cursor() as cursor:
            started = time.perf_counter()
            with cursor.copy(f"COPY records_record ({columns}) FROM STDIN") as copy:
                copy.write(buffer.getvalue())
            elapsed = time.perf_counter() - started
    return rows / elapsed


# --- B1f: the same pages over HTTP, discarded ----------------------------------------------------


def b1f_fetch_only(suite, server, state):
    from django.conf import settings

    from institutions import fhir_client

    source = state["source"]
    rates = []
    for _ in range(suite.repeats):
        received = 0
        started = time.perf_counter()
        with fhir_client.FHIRClient(state["institution"]) as client:
            bundle = client.get_json(
                f"Patient/{source.patient_ref}/$everything",
                {"_count": settings.PHR_SYNC_PAGE_SIZE},
            )
            while True:
                received += len(bundle.get("entry", []))
                next_url = next(
                    (ln["url"] for ln in bundle.get("link", []) if ln["relation"] == "next"),
                    None,
                )
                if not next_url:
                    break
                bundle = client.get_json(next_url, paging=True)
        rates.append(received / (time.perf_counter() - started))
    rate = median(rates)
    suite.report(
        "B1f",
        value=rate,
        unit="resources/s",
        baseline=state["copy_rate"],
        ratio=rate / state["copy_rate"],
        goal="≥ 1.0 of COPY",
        met=rate / state["copy_rate"] >= 1.0,
        resources=received,
    )


# --- B2: a re-sync when nothing changed ----------------------------------------------------------


def b2_resync(suite, server, state):
    from institutions import sync

    source = state["source"]
    times = []
    for _ in range(suite.repeats):
        run, _ = sync.request_sync(source=source, trigger="patient")
        started = time.perf_counter()
        assert sync.execute_run(run_id=run.pk) == "succeeded"
        times.append(time.perf_counter() - started)
        run.refresh_from_db()
        assert run.created_count == run.updated == 0
    ratio = median(times) / state["b1_seconds"]
    suite.report(
        "B2",
        value=median(times),
        unit="s",
        baseline=state["b1_seconds"],
        ratio=ratio,
        goal="≤ 0.05 of B1's time",
        met=ratio <= 0.05,
        fetched_on_resync=run.fetched,
    )


# --- B3: server time of the main pages for the big patient ---------------------------------------


def _pages(user, share_token):
    from records.models import Category, Record

    lab = (
        Record.objects.filter(patient=user, category=Category.LAB)
        .values_list("code_value", flat=True)
        .first()
    )
    # A record of the kind most often opened (a result), and a word its search text holds.
    record = Record.objects.filter(patient=user, category=Category.LAB).order_by("id").first()
    word = record.display.split()[0] if record.display else "a"
    return {
        "dashboard": "/dashboard/",
        "timeline": "/records/timeline/",
        "lab trend": f"/records/labs/{lab}/",
        "labs": "/records/labs/",
        "vitals": "/records/vitals/",
        "medications": "/records/medications/",
        "summary": "/records/summary/",
        "search": f"/records/search/?q={quote(word)}",
        "record detail": f"/records/r/{record.code}/",
        "activity": "/account/activity/",
        "records API": "/api/v1/records/",
        "share view": f"/s/{share_token}/",
    }


def _share(user):
    from tests.factories import make_share

    _, token = make_share(user, label="Dr. Bench", categories=["lab", "medication", "condition"])
    return token


def _timed_client(user, token):
    from django.test import Client

    client = Client()
    client.force_login(user)
    assert client.post(f"/s/{token}/", {"name": "Dr. Bench"}).status_code == 302
    return client


def b3_pages(suite, server, state):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    user = state["user"]
    token = _share(user)
    state["share_token"] = token
    client = _timed_client(user, token)
    pages = _pages(user, token)
    repeats = 10 if suite.quick else 30

    def measure(path):
        for _ in range(2):  # warm
            assert client.get(path).status_code == 200, path
        samples = []
        for _ in range(repeats):
            started = time.perf_counter()
            response = client.get(path)
            samples.append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200, path
        return percentile(samples, 0.5), percentile(samples, 0.95)

    baseline_p50, baseline_p95 = measure("/account/")
    # The same pages for a patient with 200 records: the query count must not depend on size.
    small_user = world.patient(2)
    world.known_at(state["hospital"], small_user, size=suite.small)
    from institutions import domain, sync

    small_source = domain.link_institution(patient=small_user, institution=state["institution"])
    sync.execute_run(run_id=small_source.runs.get().pk)
    small_token = _share(small_user)
    small_client = _timed_client(small_user, small_token)
    small_pages = _pages(small_user, small_token)

    def queries(which_client, which_user, path):
        """(warm, cold) query counts: the page again, then after a new data version."""
        from django.db import transaction

        from records import readmodels

        which_client.get(path)
        with CaptureQueriesContext(connection) as warm:
            which_client.get(path)
        with transaction.atomic():
            readmodels.bump(patient_id=which_user.pk)
        with CaptureQueriesContext(connection) as cold:
            which_client.get(path)
        return len(warm), len(cold)

    def cold(path):
        """The first request after a sync changed the data: what every ingest that stores a
        row does to the read models (a new data version), then the page."""
        from django.db import transaction

        from records import readmodels

        samples = []
        for _ in range(max(repeats // 3, 5)):
            with transaction.atomic():
                readmodels.bump(patient_id=user.pk)
            started = time.perf_counter()
            response = client.get(path)
            samples.append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200, path
        return percentile(samples, 0.5)

    worst, worst_cold, details, same_queries = 0.0, 0.0, {}, True
    for name, path in pages.items():
        p50, p95 = measure(path)
        cold_p50 = cold(path)
        big_q, small_q = (
            queries(client, user, path),
            queries(small_client, small_user, small_pages[name]),
        )
        same_queries &= big_q == small_q
        worst = max(worst, p50 / baseline_p50)
        worst_cold = max(worst_cold, cold_p50 / baseline_p50)
        details[name] = {
            "p50_ms": round(p50, 1),
            "p95_ms": round(p95, 1),
            "ratio": round(p50 / baseline_p50, 2),
            "cold_p50_ms": round(cold_p50, 1),
            "cold_ratio": round(cold_p50 / baseline_p50, 2),
            "queries": f"{small_q[0]} at {suite.small}, {big_q[0]} at {suite.size} "
            f"(cold: {small_q[1]}, {big_q[1]})",
        }
        print(f"     {name:14} {details[name]}", flush=True)
    state["b3_p95"] = {name: d["p95_ms"] for name, d in details.items()}
    suite.report(
        "B3",
        value=max(d["p50_ms"] for d in details.values()),
        unit="ms (slowest page p50, warm)",
        baseline=baseline_p50,
        ratio=worst,
        goal="each page p50 ≤ 3× the trivial view (warm), ≤ 15× (cold, after a sync changed "
        "the data); same query count at 200 and 20,000 records",
        met=worst <= 3 and worst_cold <= 15 and same_queries,
        cold_ratio=worst_cold,
        pages=details,
        baseline_p95_ms=baseline_p95,
    )


# --- B4: HTTP load with wrk against gunicorn -----------------------------------------------------


def wrk(url, *, headers, seconds, connections=64, timeout=10):
    if not shutil.which("wrk"):
        raise RuntimeError("wrk is not installed: apt-get install wrk")
    # wrk gives up on a request after `timeout` seconds and counts it as a socket error.
    command = [
        "wrk",
        "-t2",
        f"-c{connections}",
        f"-d{seconds}s",
        f"--timeout={timeout}s",
        "--latency",
    ]
    for name, value in headers.items():
        command += ["-H", f"{name}: {value}"]
    output = subprocess.run(
        [*command, url], capture_output=True, text=True, check=True, timeout=seconds + 60
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    return {
        "rps": rps,
        "non_2xx": int(non_2xx.group(1)) if non_2xx else 0,
        # connect, read and write errors; requests still unanswered after `timeout` apart
        "socket_errors": sum(int(n) for n in errors.groups()[:3]) if errors else 0,
        "timeouts": int(errors.group(4)) if errors else 0,
        **{f"p{q}_ms": _latency_ms(output, q) for q in (50, 90, 99)},
    }


def _latency_ms(output: str, percent: int) -> float | None:
    """A percentile of wrk's --latency distribution, in milliseconds."""
    match = re.search(rf"^\s+{percent}%\s+([\d.]+)(us|ms|s)\s*$", output, re.MULTILINE)
    if not match:
        return None
    value, unit = float(match.group(1)), match.group(2)
    return round(value * {"us": 0.001, "ms": 1, "s": 1000}[unit], 2)


def login_headers(server, user_email):
    import httpx

    response = httpx.post(
        f"{server.url}/_allauth/app/v1/auth/login",
        json={"email": user_email, "password": "bench-pass-123"},
    )
    assert response.status_code == 200, response.text
    return {"X-Session-Token": response.json()["meta"]["session_token"]}


def recipient_cookie(server, token):
    import httpx

    with httpx.Client(base_url=server.url) as client:
        response = client.post(f"/s/{token}/", data={"name": "Dr. Load"})
        assert response.status_code == 302, response.status_code
        return "; ".join(f"{name}={value}" for name, value in client.cookies.items())


def b4_load(suite, server, state):
    seconds = 5 if suite.quick else 30
    api = login_headers(server, state["user"].email)
    cookie = {"Cookie": recipient_cookie(server, state["share_token"])}
    baseline = wrk(f"{server.url}/api/v1/me/", headers=api, seconds=seconds)
    share = wrk(f"{server.url}/s/{state['share_token']}/", headers=cookie, seconds=seconds)
    records = wrk(f"{server.url}/api/v1/records/", headers=api, seconds=seconds)
    state["b4"] = {"share": share, "records": records}
    worst = min(share["rps"], records["rps"]) / baseline["rps"]
    clean = all(
        r["non_2xx"] == 0 and r["socket_errors"] == 0 and r["timeouts"] == 0
        for r in (baseline, share, records)
    )
    suite.report(
        "B4",
        value=min(share["rps"], records["rps"]),
        unit="requests/s (slower of the two)",
        baseline=baseline["rps"],
        ratio=worst,
        goal="0 errors, 0 non-2xx; ≥ 0.4 of the trivial view's requests/s",
        met=clean and worst >= 0.4,
        share_view=share,
        records_api=records,
        trivial_view=baseline,
        seconds=seconds,
        connections=64,
    )


# --- B5: importing the institution directory -----------------------------------------------------


def b5_directory_import(suite, server, state):
    from institutions.directory_csv import import_directory
    from institutions.models import Institution

    rows = [
        "hira_number,name,name_en,type_code,region,fhir_base_url,token_url,client_id,client_secret"
    ]
    for n in range(1300):
        rows.append(
            f"{70000000 + n},기관{n},Institution {n},{('01', '11', '31', '51')[n % 4]},서울특별시,"
            f"https://fhir{n}.example.org/fhir,https://fhir{n}.example.org/token,client{n},secret{n}"
        )
    data = ("\n".join(rows) + "\n").encode()
    times = []
    for _ in range(suite.repeats):
        Institution.objects.filter(hira_number__startswith="7").delete()
        started = time.perf_counter()
        result = import_directory(data)
        times.append(time.perf_counter() - started)
        assert result.ok, result.errors[:3]
        assert result.created == 1300
    started = time.perf_counter()
    again = import_directory(data)
    reimport = time.perf_counter() - started
    noop = (again.created, again.updated, again.unchanged) == (0, 0, 1300)
    suite.report(
        "B5",
        value=median(times),
        unit="s for 1,300 rows",
        goal="reported; re-import is a no-op",
        met=noop,
        rows_per_second=1300 / median(times),
        reimport_seconds=reimport,
        reimport=f"{again.created} created, {again.updated} updated, {again.unchanged} unchanged",
    )


# --- B6: fan-out over two real Celery workers ----------------------------------------------------


def b6_fan_out(suite, server, state):
    import threading

    from django.db.models import Max, Min, Sum

    from institutions import domain
    from institutions.models import RunStatus, SyncRun

    patients = 30 if suite.quick else 300
    per_patient = 60
    cap = 4
    hospitals = [
        world.mock_hospital(f"fan-{i}", seed=100 + i, size=per_patient, hira=f"8000000{i}")
        for i in range(3)
    ]
    institutions = [world.onboard(server, h, cap=cap) for h in hospitals]
    users = [world.patient(1000 + n) for n in range(patients)]
    for hospital in hospitals:
        for user in users:
            world.known_at(hospital, user, size=per_patient)
    workers = _start_workers(2, concurrency=4)
    try:
        observed = {i.pk: 0 for i in institutions}
        stop = threading.Event()

        def watch():
            from django.db import connection
            from django.db.models import Count

            while not stop.is_set():
                running = (
                    SyncRun.objects.filter(status=RunStatus.RUNNING)
                    .values("source__institution")
                    .annotate(n=Count("id"))
                )
                for row in running:
                    key = row["source__institution"]
                    if key in observed:
                        observed[key] = max(observed[key], row["n"])
                time.sleep(0.02)
            connection.close()

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        for user in users:  # workers start on the first runs while the rest are linked
            for institution in institutions:
                domain.link_institution(patient=user, institution=institution)
        runs = SyncRun.objects.filter(source__institution__in=institutions)
        deadline = time.monotonic() + (600 if not suite.quick else 180)
        while time.monotonic() < deadline:
            if not runs.exclude(status__in=[RunStatus.SUCCEEDED, RunStatus.FAILED]).exists():
                break
            time.sleep(0.5)
        stop.set()
        watcher.join()
    finally:
        for worker in workers:
            worker.terminate()
        for worker in workers:
            worker.wait(timeout=60)
    span = runs.aggregate(start=Min("started_at"), end=Max("finished_at"), total=Sum("fetched"))
    seconds = (span["end"] - span["start"]).total_seconds()
    failed = runs.filter(status=RunStatus.FAILED).count()
    unfinished = runs.exclude(status__in=[RunStatus.SUCCEEDED, RunStatus.FAILED]).count()
    rate = span["total"] / seconds
    ratio = rate / state["b1_rate"] if "b1_rate" in state else None
    peak = max(observed.values())
    from mockhospital.views import tokens_issued

    tokens = sum(tokens_issued(hospital) for hospital in hospitals)  # links' lookups included
    suite.report(
        "B6",
        value=rate,
        unit="resources/s",
        baseline=state.get("b1_rate"),
        ratio=ratio,
        goal="≥ 0.7 of B1's rate; the cap of 4 per institution never exceeded",
        met=(ratio is not None and ratio >= 0.7) and peak <= cap and not failed and not unfinished,
        syncs=runs.count(),
        failed=failed,
        unfinished=unfinished,
        resources=span["total"],
        seconds=seconds,
        peak_concurrent_per_institution=peak,
        cap=cap,
        access_tokens_issued=tokens,
    )


def _start_workers(count, *, concurrency):
    workers = []
    for n in range(count):
        workers.append(
            subprocess.Popen(
                [
                    str(world.Path(sys.executable).parent / "celery"),
                    "-A",
                    "phr",
                    "worker",
                    "--concurrency",
                    str(concurrency),
                    "--hostname",
                    f"bench{n}@%h",
                    "--loglevel",
                    "WARNING",
                    "--without-gossip",
                    "--without-mingle",
                ],
                cwd=world.ROOT,
                env=world.bench_env(),
            )
        )
    return workers


# --- B7: peak memory of a worker syncing the big patient -----------------------------------------


MEMORY_SCRIPT = """
import resource, sys, django
django.setup()
from accounts.models import User
from institutions import domain, sync
from institutions.models import Institution
user = User.objects.get(email=sys.argv[1])
institution = Institution.objects.get(hira_number=sys.argv[2])
for source in user.sources.filter(institution=institution):
    domain.unlink_source(source=source, purge=True)
    source.delete()
source = domain.link_institution(patient=user, institution=institution)
run = source.runs.get()
assert sync.execute_run(run_id=run.pk) == "succeeded"
run.refresh_from_db()
print("RESULT", run.fetched, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def b7_memory(suite, server, state):
    small = max(suite.size // 5, 500)
    small_user = world.patient(3)
    world.known_at(state["hospital"], small_user, size=small)
    measured = {}
    for label, email in (("small", small_user.email), ("big", state["user"].email)):
        output = subprocess.run(
            [sys.executable, "-c", MEMORY_SCRIPT, email, state["hospital"].hira_number],
            cwd=world.ROOT,
            env=world.bench_env(),
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        fetched, kib = output.split("RESULT", 1)[1].split()
        measured[label] = (int(fetched), int(kib) / 1024)
    growth = measured["big"][1] / measured["small"][1]
    suite.report(
        "B7",
        value=measured["big"][1],
        unit="MiB peak RSS",
        baseline=measured["small"][1],
        ratio=growth,
        goal="reported; flat in the number of resources (≤ 1.15× from small to big)",
        met=growth <= 1.15,
        small=f"{measured['small'][0]} resources: {measured['small'][1]:.0f} MiB",
        big=f"{measured['big'][0]} resources: {measured['big'][1]:.0f} MiB",
    )
