"""flan.jsonl: line numbers, blank lines, located errors, and a write/read round trip."""
import re

import pytest

from flan import jsonl


def test_round_trip_keeps_line_numbers_and_skips_blank_lines(tmp_path):
  path = tmp_path / "sub" / "rows.jsonl"
  jsonl.write_jsonl(path, [{"a": "é"}, {"b": [1, 2]}])
  assert "é" in path.read_text(encoding="utf-8")
  path.write_text(path.read_text(encoding="utf-8") + "\n  \n" + '{"c": null}\n', encoding="utf-8")
  assert list(jsonl.read_jsonl(path)) == [(1, {"a": "é"}), (2, {"b": [1, 2]}), (5, {"c": None})]


@pytest.mark.parametrize("line, message", [
    ('{"a": ', r":2: malformed JSON line \(Expecting value at column 7\)"),
    ("[1, 2]", r":2: expected a JSON object, got list"),
])
def test_bad_lines_name_file_and_line(tmp_path, line, message):
  path = tmp_path / "bad.jsonl"
  path.write_text('{"ok": 1}\n' + line + "\n", encoding="utf-8")
  with pytest.raises(jsonl.JsonlError, match=re.escape(str(path)) + message):
    list(jsonl.read_jsonl(path))
