"""The set-up files agree: conda users get the same pins as `make setup` (pyproject.toml)."""
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


def test_torch_is_pinned_to_the_local_cpu_wheel_version():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert "torch==2.13.0" in project["dependencies"]
    assert "TORCH_PIN := torch==2.13.0" in (ROOT / "Makefile").read_text()


def test_environment_yml_pip_section_carries_the_same_pins():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = set(project["dependencies"])
    for extra in ("notebooks", "dev"):
        wanted |= {r for r in project["optional-dependencies"][extra] if not r.startswith("fasolfa")}
    environment = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_section = next(item["pip"] for item in environment["dependencies"] if isinstance(item, dict))
    assert "-e ." in pip_section
    listed = {r for r in pip_section if not r.startswith("-e")}
    assert {r.replace(" ", "") for r in listed} == {r.replace(" ", "") for r in wanted}
    assert any(str(item).startswith("fluidsynth") for item in environment["dependencies"])


def test_console_script_is_declared():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["scripts"]["fasolfa"] == "fasolfa.cli:console_main"


def test_console_main_exits_with_mains_status_and_flushed_output(tmp_path):
    """The command leaves with os._exit (no interpreter teardown): its status is main()'s, and
    what it printed arrives."""
    import subprocess
    import sys
    code = "import sys; from fasolfa.cli import console_main; sys.argv[0] = 'fasolfa'; console_main()"
    missing = subprocess.run([sys.executable, "-c", code, "transcribe", str(tmp_path / "nope.wav")],
                             capture_output=True, text=True, timeout=120)
    assert missing.returncode == 1
    lines = missing.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("fasolfa: error: ") and "nope.wav" in lines[0]
    helped = subprocess.run([sys.executable, "-c", code, "--help"], capture_output=True, text=True, timeout=120)
    assert helped.returncode == 0 and "transcribe" in helped.stdout


def test_augment_and_plots_import_without_torch_or_fluidsynth():
    import subprocess
    import sys
    code = ("import sys, fasolfa.augment, fasolfa.plots; "
            "heavy = [m for m in ('torch', 'fluidsynth', 'fasolfa.synth', 'fasolfa.data') if m in sys.modules]; "
            "assert not heavy, heavy")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_no_file_points_to_a_document_outside_the_repository():
    for path in [*ROOT.glob("fasolfa/*.py"), ROOT / "README.md"]:
        assert "DESIGN.md" not in path.read_text(), path
