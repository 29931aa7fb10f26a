"""help() reads well: docstrings and signatures on the types, stubs shipped in the wheel."""
import inspect
import pathlib

import media_toolkit as mt


def test_docstrings_and_signatures():
    assert "endpoint strings" in mt.Pipeline.__doc__
    assert "Ctrl-C" in mt.Pipeline.run.__doc__
    assert "kill=True" in mt.PipelineHandle.close.__doc__
    assert "timescale" in mt.Packet.__doc__
    assert "media pipelines" in mt.__doc__.lower()
    assert str(inspect.signature(mt.PipelineHandle.close)) == "(self, /, wait=True, kill=False)"
    assert "**options" in str(inspect.signature(mt.Pipeline))


def test_stubs_are_installed():
    package = pathlib.Path(mt.__file__).parent
    stubs = list(package.glob("*.pyi"))
    assert stubs, f"no .pyi beside {mt.__file__}"
    assert "class PipelineHandle" in stubs[0].read_text()
    assert (package / "py.typed").exists()
