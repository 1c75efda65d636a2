"""The `tessera` program ends without the interpreter's teardown when that has nothing to do
(`tessera.cli.main._end`), and exits as before otherwise: the same output and exit codes."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tessera.cli.main import main
from tests.support import unmeasured_environment

# A module global whose finalizer shows whether the interpreter tore the modules down.
PROBE = """
import sys
from tessera.cli.main import main

class Witness:
    def __del__(self):
        print("torn down", flush=True)

witness = Witness()
{setup}
sys.argv = ["tessera", *{argv!r}]
sys.exit(main())
"""


def program(argv: list[str], setup: str = "") -> subprocess.CompletedProcess[str]:
    code = PROBE.format(argv=argv, setup=setup)
    return subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=False,
        env=unmeasured_environment(),  # coverage.py would register its own exit handler
    )


@pytest.mark.parametrize(
    ("argv", "code", "out", "err"),
    [
        (["--version"], 0, "tessera ", ""),
        (["--help"], 0, "usage: tessera", ""),
        (["ping", "--bogus"], 2, "", "tessera: ping: unrecognized arguments: --bogus"),
        (["--endpoint", "/nonexistent/s", "ping"], 11, "", "tessera: cannot reach the service"),
        (["--endpoint", "/nonexistent/s", "sign", "-k", "k", "x"], 11, "", "tessera: cannot"),
    ],
)
def test_the_program_ends_without_teardown_and_with_its_output(
    argv: list[str], code: int, out: str, err: str
) -> None:
    done = program(argv)
    assert done.returncode == code
    assert done.stdout.startswith(out)
    assert "torn down" not in done.stdout  # (the process ended without the teardown)
    assert done.stderr.startswith(err)
    assert done.stderr.count("\n") == (1 if err else 0)


def test_a_command_loading_the_daemons_exits_as_before() -> None:
    # (completion imports every command module: the daemons' leave exit handlers)
    done = program(["completion", "bash"])
    assert done.returncode == 0
    assert "complete -o default -F _tessera tessera" in done.stdout
    assert done.stderr == ""


def test_an_exit_handler_is_run_as_before() -> None:
    setup = "import atexit\natexit.register(print, 'handled', flush=True)"
    done = program(["--endpoint", "/nonexistent/s", "ping"], setup)
    assert done.returncode == 11
    assert "handled" in done.stdout
    assert "torn down" in done.stdout


def test_another_thread_is_waited_for_as_before() -> None:
    setup = (
        "import threading, time\n"
        "threading.Thread(target=lambda: (time.sleep(0.3), print('waited', flush=True))).start()"
    )
    done = program(["--endpoint", "/nonexistent/s", "ping"], setup)
    assert done.returncode == 11
    assert "waited" in done.stdout


def test_a_broken_pipe_at_the_end_is_reported_by_the_interpreter_as_before() -> None:
    # stdout closed by the reader after `head -c1`: the output's flush fails here
    shell = f"{sys.executable} -c 'import sys; from tessera.cli.main import main; "
    shell += "sys.exit(main())' completion bash | head -c1 >/dev/null; echo ${PIPESTATUS[0]}"
    done = subprocess.run(["bash", "-c", shell], capture_output=True, text=True, check=True)
    assert done.stdout.strip() in ("0", "141")  # (141: the command saw the pipe close)
    assert "Traceback" not in done.stderr


def test_main_called_with_arguments_returns() -> None:
    # (a caller in the same process gets the code back: only the program ends itself)
    assert main(["--endpoint", "/nonexistent/s", "ping"]) == 11
