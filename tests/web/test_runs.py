"""The runs browser: real Inspect logs in a run folder, their report beside it, and files served only via the index."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from characterlab.store import Store
from characterlab.web import LabSettings, create_app
from characterlab.web._security import SHARED_PAGE_POLICY
from tests.web.conftest import the_lab

REPORT = "<!doctype html><title>demo report</title><h1>The demo's report</h1>"


@pytest.fixture(scope="module")
def made_runs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An ``out/demo`` folder as the demo leaves it: ``runs/`` holding a real (tiny) Inspect log, and a report."""
    from inspect_ai import Task, eval
    from inspect_ai.dataset import Sample
    from inspect_ai.model import ModelOutput, ModelUsage, get_model
    from inspect_ai.scorer import match

    demo = tmp_path_factory.mktemp("out") / "demo"
    output = ModelOutput.from_content(model="mockllm/model", content="1")
    # usage set: without it mockllm counts tokens with tiktoken, which downloads its vocabulary (offline: fails).
    output.usage = ModelUsage(input_tokens=3, output_tokens=1, total_tokens=4)
    [log] = eval(
        Task(dataset=[Sample(input="Say 1", target="1")], scorer=match(), name="say_one"),
        model=get_model("mockllm/model", custom_outputs=[output]),
        log_dir=str(demo / "runs" / "mockllm"),
        display="none",
    )
    assert log.status == "success"
    (demo / "report.html").write_text(REPORT, encoding="utf-8")
    return demo


@pytest.fixture
def demo(made_runs: Path, tmp_path: Path) -> Path:
    """A fresh copy of the demo folder (a test may delete files in it), with a broken log file added."""
    copy = tmp_path / "demo"
    shutil.copytree(made_runs, copy)
    (copy / "runs" / "broken.eval").write_bytes(b"this is not a zip file")
    return copy


@pytest.fixture
def app(tmp_path: Path, demo: Path) -> FastAPI:
    app = create_app(
        LabSettings(store=Store(f"sqlite:///{tmp_path / 'lab.db'}"), runs=[demo / "runs", tmp_path / "not-there"])
    )
    if not any(getattr(route, "path", None) == "/runs" for route in app.routes):
        from characterlab.web import _runs

        app.include_router(_runs.router)
    return app


@pytest.fixture
def client(app: FastAPI) -> TestClient:
    return TestClient(app, base_url="http://127.0.0.1:8765")


def test_the_runs_page_lists_and_indexes_each_log(client: TestClient, app: FastAPI, demo: Path) -> None:
    response = client.get("/runs")
    assert response.status_code == 200, response.text
    [run] = the_lab(app).store.runs()
    assert (run.task, run.model, run.status, run.samples) == ("say_one", "mockllm/model", "success", 1)
    assert run.started_at is not None
    assert Path(run.location).parent == (demo / "runs" / "mockllm").resolve()
    assert run.report == str((demo / "report.html").resolve())
    page = response.text
    assert f'<tr data-run="{run.id}">' in page
    assert "say_one" in page and "mockllm/model" in page and ">success<" in page
    assert f'href="/runs/{run.id}/report"' in page and f'href="/runs/{run.id}/log"' in page
    assert f"<code>inspect view --log-dir {(demo / 'runs').resolve()}</code>" in page
    assert "broken.eval" in page  # listed as unreadable, with the reason
    assert "not-there" in page  # a configured folder that does not exist is named
    # A second visit refreshes the same entry rather than adding another.
    client.get("/runs")
    assert [again.id for again in the_lab(app).store.runs()] == [run.id]


def test_the_report_and_the_log_are_served_only_through_the_index(client: TestClient, app: FastAPI, demo: Path) -> None:
    client.get("/runs")
    [run] = the_lab(app).store.runs()
    report = client.get(f"/runs/{run.id}/report")
    assert report.status_code == 200
    assert report.text == REPORT and report.headers["content-type"].startswith("text/html")
    assert report.headers["content-security-policy"] == SHARED_PAGE_POLICY
    log = client.get(f"/runs/{run.id}/log")
    assert log.status_code == 200
    assert log.content == Path(run.location).read_bytes()
    assert log.headers["content-disposition"].startswith("attachment;")
    assert Path(run.location).name in log.headers["content-disposition"]

    assert client.get("/runs/no-such-run/report").status_code == 404
    assert client.get("/runs/no-such-run/log").status_code == 404
    assert client.get("/runs/..%2F..%2Fetc%2Fpasswd/report").status_code == 404
    assert client.get("/runs/%2Fetc%2Fpasswd/log").status_code == 404
    (demo / "report.html").unlink()
    assert client.get(f"/runs/{run.id}/report").status_code == 404


def test_an_indexed_path_outside_the_run_folders_is_not_served(
    client: TestClient, app: FastAPI, tmp_path: Path
) -> None:
    outside = tmp_path.parent / "outside-secret.html"
    outside.write_text("secret", encoding="utf-8")
    try:
        run = the_lab(app).store.index_run(
            str(outside), task="t", model="m", status="success", samples=0, started_at=None, report=str(outside)
        )
        assert client.get(f"/runs/{run.id}/report").status_code == 404
        assert client.get(f"/runs/{run.id}/log").status_code == 404
    finally:
        outside.unlink()


def test_no_run_folders_says_how_to_name_one(tmp_path: Path) -> None:
    app = create_app(LabSettings(store=Store(f"sqlite:///{tmp_path / 'lab.db'}"), runs=[tmp_path / "missing"]))
    if not any(getattr(route, "path", None) == "/runs" for route in app.routes):
        from characterlab.web import _runs

        app.include_router(_runs.router)
    page = TestClient(app, base_url="http://127.0.0.1:8765").get("/runs")
    assert page.status_code == 200 and "characterlab serve --runs FOLDER" in page.text


def test_a_deleted_log_leaves_the_index_and_other_folders_runs_stay(
    client: TestClient, app: FastAPI, demo: Path
) -> None:
    store = the_lab(app).store
    elsewhere = store.index_run(
        "/elsewhere/run.eval", task="t", model="m", status="success", samples=1, started_at=None, report=None
    )
    client.get("/runs")
    [run] = [indexed for indexed in store.runs() if indexed.id != elsewhere.id]
    Path(run.location).unlink()
    page = client.get("/runs").text
    assert run.id not in page
    assert [indexed.id for indexed in store.runs()] == [elsewhere.id]  # only the scanned folder's entry went


def test_unchanged_logs_are_not_read_again(
    client: TestClient, app: FastAPI, demo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import inspect_ai.log

    reads: list[str] = []
    real = inspect_ai.log.read_eval_log

    def counting(path: str, **kwargs: object) -> object:
        reads.append(Path(path).name)
        return real(path, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(inspect_ai.log, "read_eval_log", counting)
    client.get("/runs")
    first = len(reads)
    assert first >= 2  # the log and the broken file
    client.get("/runs")
    assert len(reads) == first + 1  # only the broken file, which never gave a header to keep
    [run] = the_lab(app).store.runs()
    Path(run.location).touch()
    client.get("/runs")
    assert Path(run.location).name in reads[first + 1 :]  # a log that changed is read again


def test_a_report_under_another_name_counts_only_if_characterlab_wrote_it(
    client: TestClient, app: FastAPI, demo: Path
) -> None:
    (demo / "report.html").unlink()
    (demo / "notes.html").write_text("<!doctype html><title>my notes</title>", encoding="utf-8")
    client.get("/runs")
    [run] = the_lab(app).store.runs()
    assert run.report is None
    ours = '<!doctype html><html><head><meta name="generator" content="characterlab 0.1.0"><title>x</title>'
    (demo / "study.html").write_text(ours, encoding="utf-8")
    client.get("/runs")
    [run] = the_lab(app).store.runs()
    assert run.report == str((demo / "study.html").resolve())
