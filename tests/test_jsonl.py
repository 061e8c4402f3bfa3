"""flan.jsonl: line numbers, blank lines, located errors, and a write/read round trip."""
import re

import pytest

from flan import jsonl
from flan.errors import InputError


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


def test_non_utf8_line_names_file_and_line(tmp_path):
  path = tmp_path / "latin1.jsonl"
  path.write_bytes('{"a": "ok"}\n'.encode() + '{"a": "café"}\n'.encode("latin-1"))
  with pytest.raises(jsonl.JsonlError, match=re.escape(f"{path}:2: not UTF-8 text (byte 0xe9")):
    list(jsonl.read_jsonl(path))


def test_a_byte_order_mark_is_accepted(tmp_path):
  path = tmp_path / "bom.jsonl"
  path.write_bytes(b"\xef\xbb\xbf" + b'{"a": 1}\n')
  assert list(jsonl.read_jsonl(path)) == [(1, {"a": 1})]


def test_a_failed_write_leaves_the_previous_file_whole(tmp_path):
  path = tmp_path / "out.jsonl"
  jsonl.write_jsonl(path, [{"old": 1}])

  def rows():
    yield {"new": 1}
    raise RuntimeError("the producer failed half way")

  with pytest.raises(RuntimeError, match="half way"):
    jsonl.write_jsonl(path, rows())
  assert path.read_text() == '{"old": 1}\n'
  assert [p.name for p in tmp_path.iterdir()] == ["out.jsonl"]  # no temporary file left


def test_nan_is_never_written(tmp_path):
  path = tmp_path / "out.jsonl"
  with pytest.raises(ValueError, match=r"row 2 has a value that is not JSON .*\['score'\]"):
    jsonl.write_jsonl(path, [{"score": 1.0}, {"score": float("nan")}])
  assert not path.exists()


def test_output_that_is_a_directory_is_refused(tmp_path):
  with pytest.raises(InputError, match="is a directory"):
    jsonl.write_jsonl(tmp_path, [{"a": 1}])
