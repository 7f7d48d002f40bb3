#!/usr/bin/env python3
"""Replaces one generated section of a Markdown file, between the markers
<!-- NAME:begin ... --> and <!-- NAME:end -->, with a heading line and a table file.

Usage: write_doc_section.py DOC NAME WRITER HEADING TABLE_FILE
Used by the benchmark scripts to keep docs/performance.md in step with what they measured.
"""
import re
import sys

doc, name, writer, heading, table = sys.argv[1:6]
body = open(table).read().strip()
block = (f"<!-- {name}:begin (written by {writer} --write-docs) -->\n"
         f"{heading}\n\n{body}\n<!-- {name}:end -->")
text = open(doc).read()
if f"<!-- {name}:begin" not in text:
    sys.exit(f"{doc} has no {name} markers; table not written")
new = re.sub(rf"<!-- {name}:begin.*?<!-- {name}:end -->", lambda _: block, text, flags=re.S)
open(doc, "w").write(new)
print(f"wrote the {name} table into {doc}", file=sys.stderr)
