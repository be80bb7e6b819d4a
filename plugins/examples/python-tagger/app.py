"""python-tagger: a Weir plugin in Python, built with componentize-py (see README.md)."""

import wit_world
from componentize_py_types import Err
from wit_world.imports import host, types

from tagger import DROP, Tagger

_tagger = None


class WitWorld(wit_world.WitWorld):
    def init(self, config):
        global _tagger
        try:
            _tagger = Tagger(config)
        except ValueError as e:
            raise Err(str(e))
        host.log(types.Level.INFO, f"python-tagger: lang={_tagger.lang.decode()}")

    def process(self, records):
        if _tagger is None:
            raise Err("process called before a successful init")
        outcomes = []
        for record in records:
            if _tagger.decide(record.value) == DROP:
                outcomes.append(types.Outcome_Drop())
            else:
                headers = record.headers + [types.Header("lang", _tagger.lang)]
                outcomes.append(
                    types.Outcome_Replace(types.Replacement(record.key, record.value, headers))
                )
        return outcomes
