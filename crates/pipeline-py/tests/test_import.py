import media_toolkit as mt


def test_module_has_its_types():
    for name in ["Pipeline", "PipelineHandle", "RawInput", "RawOutput", "Packet", "Track",
                 "MediaToolkitError", "PermanentError", "TransientError"]:
        assert hasattr(mt, name), name
