"""The python-tagger plugin's logic, free of the generated bindings so it can be unit-tested
with plain Python (test_tagger.py)."""

DROP = "drop"
KEEP = "keep"
TAG = "tag"


class Tagger:
    """Adds header `lang` (config `lang`, default `python`) to every record; drops records whose
    value is exactly config `drop_value` (default `drop`)."""

    def __init__(self, config):
        config = dict(config)
        unknown = sorted(set(config) - {"lang", "drop_value"})
        if unknown:
            raise ValueError(f"unknown config key(s): {', '.join(unknown)}")
        self.lang = config.get("lang", "python").encode()
        self.drop_value = config.get("drop_value", "drop").encode()

    def decide(self, value):
        """DROP or TAG for a record value (bytes or None)."""
        return DROP if value == self.drop_value else TAG
