"""Batch and eval on a real local Ray (2 CPUs, loopback only, dashboard off, one instance for these
tests): the records of the local backend exactly, and an actor killed mid-run still gives complete,
unduplicated results."""

from __future__ import annotations

import json
import os
import signal
import threading
import time

import pytest

from dyntemp.batch import BatchOptions, run_batch
from dyntemp.eval.run_folder import read_generations
from dyntemp.eval.runner import run_sweep
from dyntemp.eval.spec import Sweep, parse_strategy


@pytest.fixture(scope="module")
def ray_session(tmp_path_factory):
    from dyntemp.ray_actors import start_ray

    os.environ["RAY_TMPDIR"] = str(tmp_path_factory.mktemp("ray"))
    os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"  # before Ray is imported: it reads them then
    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    import ray

    start_ray(num_cpus=2)
    yield ray
    ray.shutdown()


def _input(path, n: int, max_tokens: int = 16) -> None:
    path.write_text("".join(json.dumps({"id": f"p{i}", "prompt": f"Story {i}:", "max_tokens": max_tokens,
                                        **({"strategy": "edt:theta=0.6"} if i % 2 else {})}) + "\n"
                            for i in range(n)))


def _records(path) -> dict[str, dict]:
    records = [json.loads(line) for line in path.read_text().splitlines()]
    assert len(records) == len({r["id"] for r in records})  # no duplicates
    return {r["id"]: r for r in records}


def test_the_ray_node_is_on_loopback(ray_session):
    assert {node["NodeManagerAddress"] for node in ray_session.nodes()} == {"127.0.0.1"}


def test_batch_on_ray_gives_the_local_records(ray_session, tmp_path):
    _input(tmp_path / "in.jsonl", 6)
    options = dict(seed=3, trace=True)
    run_batch(str(tmp_path / "in.jsonl"), str(tmp_path / "local.jsonl"), BatchOptions(**options), progress=False)
    made = run_batch(str(tmp_path / "in.jsonl"), str(tmp_path / "ray.jsonl"),
                     BatchOptions(**options, backend="ray", workers=2), progress=False)
    assert made == 6
    assert _records(tmp_path / "ray.jsonl") == _records(tmp_path / "local.jsonl")


def test_eval_on_ray_gives_the_local_records(ray_session, tmp_path):
    def sweep(**kw) -> Sweep:
        return Sweep(["qa"], parse_strategy("constant:temperature=0.7"), seeds=1, limit=3, max_tokens=16, **kw)

    local = run_sweep(sweep(), tmp_path / "local", progress=False)
    remote = run_sweep(sweep(backend="ray", workers=2), tmp_path / "ray", progress=False)

    def by_key(run) -> dict:
        return {(r.suite, r.item, r.setting, r.seed): r.to_dict() for r in read_generations(run)}

    assert by_key(remote) == by_key(local) and len(by_key(local)) == 3


def test_an_actor_killed_mid_run_loses_and_repeats_nothing(ray_session, tmp_path):
    _input(tmp_path / "in.jsonl", 10, max_tokens=48)
    out = tmp_path / "ray.jsonl"
    errors = []

    def run() -> None:
        try:
            run_batch(str(tmp_path / "in.jsonl"), str(out), BatchOptions(seed=9, backend="ray", workers=2),
                      progress=False)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    runner = threading.Thread(target=run)
    runner.start()
    while not out.exists() or not out.read_text():
        assert runner.is_alive(), errors
        time.sleep(0.05)
    actors = [a for a in ray_session.util.list_named_actors(all_namespaces=True) if a["name"].startswith("dyntemp-")]
    victim = ray_session.get_actor(actors[0]["name"], namespace=actors[0]["namespace"])
    os.kill(ray_session.get(victim.pid.remote()), signal.SIGKILL)  # the process, as a crash or the OOM killer
    runner.join(300)
    assert not errors and not runner.is_alive()
    killed = _records(out)
    assert sorted(killed) == sorted(f"p{i}" for i in range(10))
    run_batch(str(tmp_path / "in.jsonl"), str(tmp_path / "local.jsonl"), BatchOptions(seed=9), progress=False)
    assert killed == _records(tmp_path / "local.jsonl")


def test_an_actor_without_the_model_names_its_node_and_the_path(ray_session, tmp_path):
    import socket

    from dyntemp.batch.work import BatchWorker, ModelSetup
    from dyntemp.ray_actors import WorkerFailed, ray_results

    missing = str(tmp_path / "not-here.gguf")
    with pytest.raises(WorkerFailed) as caught:
        list(ray_results(BatchWorker, (ModelSetup(missing, 512, 1),), ["job"], 1))
    assert f"node {socket.gethostname()}" in str(caught.value) and missing in str(caught.value)
