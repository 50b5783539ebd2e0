"""The typed run summary: summary.json keeps its keys, shapes and order through the model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sim.compare.runner import Job, Payload, store
from sim.errors import BadInput
from sim.harness.summary import RunSummary, load_summary, write_summary

__all__: list[str] = []

# Summaries as the coordinator writes them: a run whose trader processes were killed and
# restarted, one without a monitor, one whose monitor was killed before it could write
# its own account. Other tools read these keys.
GOLDEN = sorted((Path(__file__).parent / "data").glob("summary-*.json"))


@pytest.mark.parametrize("path", GOLDEN, ids=[p.stem for p in GOLDEN])
def test_a_summary_read_and_written_again_is_the_same_file(path: Path, tmp_path: Path) -> None:
    s = load_summary(path)
    assert json.dumps(s.as_json()) == json.dumps(json.loads(path.read_text()))
    out = tmp_path / "summary.json"
    write_summary(out, s)
    assert out.read_text() == path.read_text()


def test_optional_keys_appear_only_when_set() -> None:
    by_name = {p.stem.removeprefix("summary-"): load_summary(p) for p in GOLDEN}
    assert by_name["nomonitor"].as_json()["monitor"] == {"enabled": False}
    killed = by_name["monkill"].as_json()["monitor"]
    assert list(killed) == ["samples", "samples_asked", "sample_ratio", "invariants",
                            "enabled", "exit"]
    deaths = [d for t in by_name["faults"].processes for d in t.deaths]
    assert deaths and all(d.restarted for d in deaths)
    assert all("restarted" in d.as_json() for d in deaths)
    assert "plot_error" not in by_name["faults"].as_json()
    failed = by_name["faults"].model_copy(update={"plot_error": "ValueError: x"})
    assert list(failed.as_json())[-1] == "plot_error"


def test_the_model_is_frozen() -> None:
    s = load_summary(GOLDEN[0])
    with pytest.raises(ValueError, match="frozen"):
        s.trades = 0  # type: ignore[misc]


def _variant(tmp: Path, edit: object) -> Path:
    data = json.loads(GOLDEN[0].read_text())
    assert callable(edit)
    edit(data)
    p = tmp / "summary.json"
    p.write_text(json.dumps(data))
    return p


@pytest.mark.parametrize(("edit", "message"), [
    (lambda d: d.update(speed=3), "speed: Extra inputs are not permitted"),
    (lambda d: d.pop("trades"), "trades: Field required"),
    (lambda d: d.update(trades="many"), "trades: Input should be a valid integer"),
    (lambda d: d["traders"][0].update(wealth=1.0), "traders.0.wealth: Extra inputs"),
])
def test_a_foreign_summary_is_one_line_naming_the_field(tmp_path: Path, edit: object,
                                                        message: str) -> None:
    p = _variant(tmp_path, edit)
    with pytest.raises(BadInput, match=message) as info:
        load_summary(p)
    assert "\n" not in str(info.value) and str(p) in str(info.value)


def test_missing_and_unparsable_files(tmp_path: Path) -> None:
    with pytest.raises(BadInput, match="no such file"):
        load_summary(tmp_path / "summary.json")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(BadInput, match="not a run summary") as info:
        load_summary(tmp_path / "bad.json")
    assert "\n" not in str(info.value)


def test_run_summary_fields_are_the_file_keys_in_order() -> None:
    data = json.loads(GOLDEN[0].read_text())
    assert [k for k in RunSummary.model_fields if k in data] == list(data)


def test_the_comparison_runner_reads_summaries_through_the_model(tmp_path: Path) -> None:
    def job(name: str) -> Job:
        return Job(index=0, variant="v", repeat=0, seed=1, scenario="", out=tmp_path / name,
                   timeout_s=10.0)

    sent = GOLDEN[0].read_bytes()
    good = store(job("good"), Payload(0, 1.0, {"summary.json": sent, "run.log": b""}))
    assert good.run_dir == tmp_path / "good"
    # As the worker wrote it, but with the folder where the client keeps it.
    assert good.summary == load_summary(GOLDEN[0]).model_copy(
        update={"run_dir": str(tmp_path / "good")})
    assert load_summary(tmp_path / "good" / "summary.json") == good.summary
    assert good.passed and good.error == ""
    bad = store(job("bad"), Payload(0, 1.0, {"summary.json": b'{"scenario": "v"}'}))
    assert bad.summary is None and not bad.passed
    assert "no readable summary.json" in bad.error and "seed: Field required" in bad.error
