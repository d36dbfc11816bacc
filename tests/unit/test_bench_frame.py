"""The benchmark frame: registry, verdict line, results file; and the fake provider's wire format.

No real benchmark runs here: tiny benchmark modules written to tmp_path stand in for them.
"""

from __future__ import annotations

import io
import json
import sys
import textwrap
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import requests

from bench.__main__ import main
from bench.cps import max_in_any_second, per_second
from bench.fake_provider import Create, FakeProvider
from bench.frame import Benchmark, Options, result_line, run_benchmarks, run_id
from bench.registry import BENCHMARKS
from ivr.telephony.port import CallRequest
from ivr.telephony.twilio import TwilioTelephony

STARTED = datetime(2030, 1, 7, 1, 0, tzinfo=UTC)
ACCOUNT_SID = "AC" + "0123456789abcdef" * 2

MODULES = {
    "bench_fake_ok": """
        from bench.frame import Memory, Outcome
        TARGET = 0.5
        def run(options):
            return Outcome(ratio=0.6, memory=Memory(3 * 2**20, "tracemalloc peak"),
                           rows=[("cases", "3")], figures={"cases": 3, "size": options.size})
    """,
    "bench_fake_slow": """
        from bench.frame import Memory, Outcome
        TARGET = 0.95
        def run(options):
            return Outcome(ratio=1.2, memory=Memory(0, "ru_maxrss"),
                           short_because="2 seconds over 10 calls")
    """,
    "bench_fake_broken": """
        TARGET = 1.0
        def run(options):
            raise ZeroDivisionError("the baseline took no time")
    """,
    "bench_fake_unavailable": """
        from bench.frame import UnavailableError
        TARGET = 1.0
        def run(options):
            raise UnavailableError("PostgreSQL is not reachable at 127.0.0.1:5432")
    """,
}


@pytest.fixture
def fakes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Benchmark]]:
    """A registry of tiny benchmark modules importable from tmp_path."""
    folder = tmp_path / "modules"
    folder.mkdir()
    for name, source in MODULES.items():
        (folder / f"{name}.py").write_text(textwrap.dedent(source), encoding="utf-8")
    monkeypatch.syspath_prepend(str(folder))
    yield {
        name.removeprefix("bench_fake_"): Benchmark(
            name.removeprefix("bench_fake_"), name, "a fake"
        )
        for name in MODULES
    }
    for name in MODULES:
        sys.modules.pop(name, None)


def _run(
    names: list[str],
    registry: dict[str, Benchmark],
    results: Path,
    options: Options | None = None,
) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    status = run_benchmarks(
        names,
        options or Options(),
        registry=registry,
        now=STARTED,
        results_dir=results,
        out=out,
        err=err,
    )
    return status, out.getvalue(), err.getvalue()


@pytest.mark.parametrize(
    ("ratio", "target", "short_because", "expected"),
    [
        (0.5, 0.5, None, "plan: ratio=0.5 target=0.5 ok"),
        (0.4999, 0.5, None, "plan: ratio=0.5 target=0.5 short"),
        (0.0292, 0.2, None, "plan: ratio=0.0292 target=0.2 short"),
        (1.2, 0.95, "a second over the limit", "plan: ratio=1.2 target=0.95 short"),
        (1234.6, 1.0, None, "plan: ratio=1235 target=1 ok"),
    ],
)
def test_result_line_is_the_one_design_fixes(
    ratio: float, target: float, short_because: str | None, expected: str
) -> None:
    """The verdict line reads `NAME: ratio=R target=T ok|short`; a reason makes it short."""
    assert expected == result_line("plan", ratio, target, short_because)


def test_every_registered_benchmark_has_a_target_and_a_run() -> None:
    """Each registry line names a module defining TARGET and run(options)."""
    assert {"plan", "dispatch", "cps"} <= set(BENCHMARKS)
    for name, benchmark in BENCHMARKS.items():
        module = benchmark.load()
        assert name == benchmark.name
        assert module.TARGET > 0
        assert callable(module.run)


def test_a_module_without_run_is_refused_when_loaded(fakes: dict[str, Benchmark]) -> None:
    """Registering a module that is not a benchmark fails loudly, naming the module."""
    with pytest.raises(TypeError, match="json must define TARGET"):
        Benchmark("nope", "json", "not a benchmark").load()


def test_run_id_is_the_utc_start_and_the_names() -> None:
    """Results files sort by time and say what ran."""
    assert "20300107T010000Z-plan-cps" == run_id(["plan", "cps"], STARTED)


def test_a_run_prints_its_table_and_ends_with_the_verdict(
    fakes: dict[str, Benchmark], tmp_path: Path
) -> None:
    """The block shows the rows and the memory peak, and its last line is the verdict."""
    status, out, _ = _run(["ok"], fakes, tmp_path)
    lines = out.splitlines()
    assert 0 == status
    assert "ok: ratio=0.6 target=0.5 ok" == lines[-1]
    assert any(line.split() == ["cases", "3"] for line in lines)
    assert "  memory peak: 3.0 MiB (tracemalloc peak)" in lines


def test_results_are_written_as_json_named_by_the_run(
    fakes: dict[str, Benchmark], tmp_path: Path
) -> None:
    """bench/results/<run-id>.json holds each benchmark's verdict, memory and figures."""
    _run(["ok", "slow"], fakes, tmp_path, Options(size=3))
    document = json.loads((tmp_path / "20300107T010000Z-ok-slow.json").read_text("utf-8"))
    ok, slow = document["benchmarks"]
    assert {"size": 3, "seconds": None, "profile": False} == document["options"]
    assert ("ok", 0.6, 0.5, {"cases": 3, "size": 3}) == (
        ok["status"],
        ok["ratio"],
        ok["target"],
        ok["figures"],
    )
    assert {"peak_bytes": 3 * 2**20, "source": "tracemalloc peak"} == ok["memory"]
    assert ("short", "2 seconds over 10 calls") == (slow["status"], slow["short_because"])


def test_short_still_exits_zero(fakes: dict[str, Benchmark], tmp_path: Path) -> None:
    """Missing a target is a result, not an error: the line says short, the status is 0."""
    status, out, _ = _run(["slow"], fakes, tmp_path)
    assert (0, "slow: ratio=1.2 target=0.95 short") == (status, out.splitlines()[-1])


def test_all_runs_every_benchmark_and_sums_up(fakes: dict[str, Benchmark], tmp_path: Path) -> None:
    """`all` runs each registered benchmark once and ends with every verdict line."""
    registry = {name: fakes[name] for name in ("ok", "slow")}
    status, out, _ = _run(["all"], registry, tmp_path)
    document = json.loads((tmp_path / "20300107T010000Z-all.json").read_text("utf-8"))
    assert 0 == status
    assert ["ok", "slow"] == [record["name"] for record in document["benchmarks"]]
    assert [
        "summary:",
        "ok: ratio=0.6 target=0.5 ok",
        "slow: ratio=1.2 target=0.95 short",
    ] == out.splitlines()[-3:]


def test_a_failing_benchmark_exits_non_zero_and_the_others_still_run(
    fakes: dict[str, Benchmark], tmp_path: Path
) -> None:
    """An exception is reported and recorded; the next benchmark runs anyway."""
    status, out, err = _run(["broken", "ok"], fakes, tmp_path)
    document = json.loads((tmp_path / "20300107T010000Z-broken-ok.json").read_text("utf-8"))
    assert 1 == status
    assert "broken: error: ZeroDivisionError: the baseline took no time" in err
    assert ["error", "ok"] == [record["status"] for record in document["benchmarks"]]
    assert "ok: ratio=0.6 target=0.5 ok" == out.splitlines()[-1]


def test_a_missing_service_exits_with_status_2_and_says_so(
    fakes: dict[str, Benchmark], tmp_path: Path
) -> None:
    """PostgreSQL not listening is a clear one-line message and exit status 2."""
    status, _, err = _run(["unavailable"], fakes, tmp_path)
    assert 2 == status
    expected = "unavailable: cannot run: PostgreSQL is not reachable at 127.0.0.1:5432\n"
    assert expected == err


def test_an_unknown_name_is_refused_with_the_known_ones(
    fakes: dict[str, Benchmark], tmp_path: Path
) -> None:
    """A typo runs nothing, writes nothing, and lists what exists."""
    status, _, err = _run(["ok", "plna"], fakes, tmp_path)
    assert 2 == status
    assert "unknown benchmark plna; known: ok, slow, broken, unavailable" in err
    assert [] == list(tmp_path.glob("*.json"))


def test_no_name_lists_the_benchmarks(capsys: pytest.CaptureFixture[str]) -> None:
    """`python -m bench` prints the usage and one line per registered benchmark."""
    assert 0 == main([])
    out = capsys.readouterr().out
    for name, benchmark in BENCHMARKS.items():
        assert f"{name}  " in out
        assert benchmark.summary in out


def test_calls_are_counted_per_second_and_in_any_sliding_second() -> None:
    """The histogram counts whole seconds from the start; the sliding count finds bursts."""
    moments = [0.0, 0.5, 0.95, 1.05, 1.1, 2.5, 9.0]
    creates = [Create(at=100 + m, to="+12025550100", attempt_id=n, call_sid="CA") for n, m in
               enumerate(moments)]  # fmt: skip
    assert [3, 2, 1] == per_second(creates, start=100.0, seconds=3)
    assert 4 == max_in_any_second(moments)  # 0.5 .. 1.1
    assert 0 == max_in_any_second([])


def _request(attempt_id: int, to: str) -> CallRequest:
    base = "https://ivr.example.test/twilio"
    return CallRequest(
        attempt_id=attempt_id,
        to=to,
        from_="+15005550006",
        voice_url=f"{base}/voice?attempt={attempt_id}",
        status_callback_url=f"{base}/status?attempt={attempt_id}",
        recording_callback_url=f"{base}/recording?attempt={attempt_id}",
        amd_callback_url=f"{base}/amd?attempt={attempt_id}",
    )


def test_fake_provider_answers_the_twilio_adapter_and_logs_the_create() -> None:
    """The real adapter places a call on the fake, which logs the attempt id and serves the call."""
    with FakeProvider(account_sid=ACCOUNT_SID) as provider:
        telephony = TwilioTelephony(
            account_sid=ACCOUNT_SID, auth_token="test-token", api_base_url=provider.base_url
        )
        placed = telephony.place_call(_request(42, "+12025550142"))
        fetched = requests.get(
            f"{provider.base_url}/2010-04-01/Accounts/{ACCOUNT_SID}/Calls/{placed.call_sid}.json",
            timeout=5,
        )
        (create,) = provider.creates
    assert ("queued", 42, "+12025550142") == (placed.status, create.attempt_id, create.to)
    assert placed.call_sid == create.call_sid
    assert (200, "completed") == (fetched.status_code, fetched.json()["status"])


def test_fake_provider_lists_calls_so_the_adapter_can_find_one_in_doubt() -> None:
    """find_call (after a create whose answer was lost) finds the call by To and From."""
    with FakeProvider(account_sid=ACCOUNT_SID) as provider:
        telephony = TwilioTelephony(
            account_sid=ACCOUNT_SID, auth_token="test-token", api_base_url=provider.base_url
        )
        since = datetime.now(UTC)
        telephony.place_call(_request(7, "+12025550107"))
        placed = telephony.place_call(_request(8, "+12025550108"))
        found = telephony.find_call(_request(8, "+12025550108"), since)
        missing = telephony.find_call(_request(9, "+12025550109"), since)
    assert (placed.call_sid, None) == (found and found.call_sid, missing)
