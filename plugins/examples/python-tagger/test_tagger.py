import unittest

from tagger import DROP, TAG, Tagger


class TaggerTest(unittest.TestCase):
    def test_defaults(self):
        t = Tagger([])
        self.assertEqual(t.lang, b"python")
        self.assertEqual(t.decide(b"drop"), DROP)
        self.assertEqual(t.decide(b"dropped"), TAG)
        self.assertEqual(t.decide(None), TAG)

    def test_config(self):
        t = Tagger([("lang", "py3"), ("drop_value", "x")])
        self.assertEqual(t.lang, b"py3")
        self.assertEqual(t.decide(b"x"), DROP)
        self.assertEqual(t.decide(b"drop"), TAG)

    def test_unknown_key(self):
        with self.assertRaisesRegex(ValueError, "unknown config key"):
            Tagger([("nope", "1")])


if __name__ == "__main__":
    unittest.main()
