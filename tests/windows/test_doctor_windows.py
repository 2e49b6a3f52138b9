"""doctor on Windows CPython (under wine64): the Windows answers (per-user AppData folders, Visual
Studio and Git for Windows as the fixes), and a real check of the stand-in over loopback."""

from __future__ import annotations

from pathlib import Path

from bot.standin import StandIn
from tests.uploader.rig import LOGIN, REPO, TOKEN
from tests.windows.conftest import WindowsPython


def rows(output: str) -> dict[str, str]:
    table: dict[str, str] = {}
    for line in output.splitlines():
        for status in (" OK ", " WARN ", " FAIL ", " SKIP "):
            name, sep, rest = line.partition(status)
            if sep and name.strip():
                table[name.strip()] = status.strip() + " " + rest.strip()
                break
    return table


def test_windows_doctor_answers_for_a_windows_host(
    winpy: WindowsPython, standin: StandIn, tmp_path: Path
) -> None:
    """Windows behaviour: the build folder under the user's AppData, Windows install advice for missing
    tools, and GitHub reached from Windows CPython through Winsock to the host's loopback."""
    (tmp_path / "crashbot.toml").write_text(
        f'[github]\nrepo = "{REPO}"\napi_url = "{standin.api_url}"\nuploader_login = "{LOGIN}"\n'
    )
    env = {"CRASHBOT_TOKEN": TOKEN, "CRASHBOT_SIGNING_KEY": "k" * 64, "PATH": "/usr/bin:/bin"}
    done = winpy.crashbot(["doctor"], cwd=tmp_path, env=env)

    assert "Traceback" not in done.output, done.output
    table = rows(done.output)
    assert table["github"].startswith("OK"), done.output
    assert table["signing key"].startswith("OK"), done.output
    assert "\\AppData\\Local\\crashbot\\build\\" in table["build folder"]
    assert "Visual Studio" in table["tool: C++ compiler"]
