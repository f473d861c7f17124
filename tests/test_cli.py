import json
import subprocess
import sys

from hia.cli import main


def test_bad_goal_exits_2_with_the_reason(capsys):
    assert main(["align", "Hi?", "--goal", "helpfulness=9"]) == 2
    assert "outside its range 0..4" in capsys.readouterr().err


def test_base_url_without_model_is_refused(capsys):
    assert main(["align", "Hi?", "--goal", "verbosity=1", "--base-url", "http://127.0.0.1:9/v1"]) == 2
    assert "--base-url needs --model" in capsys.readouterr().err


def test_unreachable_endpoint_is_a_clear_error_not_a_traceback():
    out = subprocess.run(
        [sys.executable, "-m", "hia.cli", "align", "Hi?", "--goal", "verbosity=1", "--method", "best_of_n",
         "--budget", "1", "--base-url", "http://127.0.0.1:9/v1", "--model", "m"],
        capture_output=True, text=True, timeout=120,
    )
    assert out.returncode == 2
    assert "could not be reached" in out.stderr and "Traceback" not in out.stderr


def _helpsteer_file(tmp_path, n=12):
    import json

    rows = []
    for i in range(n):
        for words in (5, 60):
            rows.append({"prompt": f"Question number {i} about plants?", "response": "leaf " * words,
                         "helpfulness": 2, "correctness": 3, "coherence": 3, "complexity": 1 + (words > 10),
                         "verbosity": 0 if words < 10 else 3})
    path = tmp_path / "h.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return path


def test_profiles_commands(tmp_path, capsys):
    db = str(tmp_path / "p.sqlite")
    assert main(["profiles", "--db", db, "set", "ana", "--goal", "verbosity=1", "--budget", "3"]) == 0
    assert main(["profiles", "--db", db, "list"]) == 0
    assert "ana\tverbosity=1\tbudget 3\thia" in capsys.readouterr().out
    assert main(["profiles", "--db", db, "delete", "ana"]) == 0
    assert main(["profiles", "--db", db, "show", "ana"]) == 2
    assert "no profile for user 'ana'" in capsys.readouterr().err
    assert main(["profiles", "--db", db, "set", "bob", "--goal", "verbosity=7"]) == 2


def test_train_reference_command_prints_the_table_and_saves(tmp_path, capsys):
    out = tmp_path / "m.json"
    assert main(["train-reference", "--data", str(_helpsteer_file(tmp_path)), "--folds", "3", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "24 rows, 12 distinct prompts" in printed and "verbosity" in printed and out.exists()


def test_train_preference_command(tmp_path, capsys):
    import json

    rows = [{"prompt": f"How do I fix problem {i}?", "chosen": f"Check the part for problem {i}, then tune it " * 3,
             "rejected": "No."} for i in range(30)]
    path = tmp_path / "pairs.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    assert main(["train-preference", "--data", str(path), "--format", "pairs", "--folds", "3"]) == 0
    assert "30 pairs; pair accuracy" in capsys.readouterr().out


def test_calibrate_command_against_a_loopback_endpoint(tmp_path, capsys):
    from tests.support.loopback import LoopbackServer

    out = tmp_path / "h.json"
    with LoopbackServer() as server:
        code = main(["calibrate", "--data", str(_helpsteer_file(tmp_path)), "--train-prompts", "2",
                     "--heldout-prompts", "1", "--rewrites", "2", "--policy-calls", "6", "--max-tokens", "8",
                     "--base-url", server.base_url, "--model", "m", "--optimizer", "template", "--out", str(out),
                     "--memory-dir", str(tmp_path / "memory")])
        assert code == 0, capsys.readouterr().err
        printed = capsys.readouterr().out
        assert "held-out Spearman" in printed and "6 policy calls" in printed and out.exists()
        assert "shipped" in printed  # the shipped heuristic's columns, before and after
        # what it learned is in the policy's memory, where hia align, batches and the proxy find it
        from hia.build import Endpoint, Settings, build, build_policy

        with build(Settings(memory_dir=str(tmp_path / "memory"))) as pipeline, \
                build_policy(Endpoint(server.base_url, "m")) as chat:
            assert pipeline.heuristic_for(chat).memory.evidence("verbosity") >= 4


def test_serve_command_answers_health_then_stops_on_sigterm(tmp_path):
    import time
    import urllib.request

    from hia.models.local import free_port
    from tests.support.loopback import LoopbackServer

    port = free_port()
    with LoopbackServer() as upstream:
        proc = subprocess.Popen([sys.executable, "-m", "hia.cli", "serve", "--upstream", upstream.base_url, "--model",
                                 "m", "--port", str(port), "--profiles", str(tmp_path / "p.sqlite")],
                                stderr=subprocess.PIPE, text=True)
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    body = urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2).read()
                    break
                except OSError:
                    assert time.monotonic() < deadline and proc.poll() is None, proc.stderr.read()
                    time.sleep(0.2)
            assert json.loads(body)["status"] == "ok"
        finally:
            proc.terminate()
            assert proc.wait(20) == 143  # SIGTERM unwinds and exits cleanly
