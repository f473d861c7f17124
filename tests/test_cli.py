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
