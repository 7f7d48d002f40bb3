# The journal's file format as the Python test drivers read it (docs/journal.md, "File
# format"): one reader, shared by test/soak and test/e2e/runtimes.
"""Reads the current record of a cnimux journal file."""

import json


def journal_record(data):
    """The current record of a journal file's bytes (docs/journal.md, "File format"): the
    last whole frame of a log ("J <length> <crc32c>\\n<JSON>\\n" ...), or a format-2 file's
    JSON. Raises ValueError when there is none. (The checksum is left to cnimux's reader.)"""
    if not data.startswith(b"J "):
        return json.loads(data)
    record, pos = None, 0
    while pos < len(data):
        nl = data.find(b"\n", pos)
        head = data[pos:nl].split(b" ") if nl >= 0 else []
        if len(head) != 3 or head[0] != b"J" or not head[1].isdigit():
            break
        end = nl + 1 + int(head[1])
        if data[end:end + 1] != b"\n":
            break
        record, pos = data[nl + 1:end], end + 1
    if record is None:
        raise ValueError("no whole record")
    return json.loads(record)
