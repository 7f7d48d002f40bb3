#!/usr/bin/env python3
"""The doc-check must fail on rot: each case is a small docs tree with one kind of rot."""
import argparse
import os
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
BUILD = None

GOOD_README = "# x\n\n```sh\nmake test\n```\n"


def run_check(pages):
    with tempfile.TemporaryDirectory(prefix="cnimux-doc-check-test-") as src:
        os.makedirs(f"{src}/docs")
        with open(f"{src}/Makefile", "w") as f:
            f.write("test:\n\ttrue\n")
        pages = dict({"README.md": GOOD_README}, **pages)
        for name, text in pages.items():
            with open(os.path.join(src, name), "w") as f:
                f.write(text)
        p = subprocess.run([sys.executable, f"{HERE}/doc_check.py", "--source", src,
                            "--build", BUILD], capture_output=True, text=True)
        return p.returncode, p.stdout + p.stderr


class DocCheckTest(unittest.TestCase):
    def assert_fails(self, page, needle):
        code, out = run_check({"docs/a.md": page})
        self.assertEqual(code, 1, out)
        self.assertIn(needle, out)

    def test_clean_tree_passes(self):
        code, out = run_check({"docs/a.md": "# a\n\n```sh\nmake test\n```\n"})
        self.assertEqual(code, 0, out)

    def test_missing_make_target(self):
        self.assert_fails("```sh\nmake nosuchtarget\n```\n", "no target 'nosuchtarget'")

    def test_missing_script(self):
        self.assert_fails("```sh\nscripts/gone.sh --flag\n```\n", "not an executable file")

    def test_unknown_cnimuxctl_option(self):
        self.assert_fails("```sh\ncnimuxctl pods --no-such-option\n```\n", "no option --no-such-option")

    def test_unknown_cnimuxctl_subcommand(self):
        self.assert_fails("```sh\ncnimuxctl frobnicate\n```\n", "has no subcommand 'frobnicate'")

    def test_console_output_drift(self):
        page = ("```console run\n$ cnimuxctl annotation parse 'a' --json\n"
                "[{\"name\":\"b\",\"namespace\":\"default\"}]\n```\n")
        self.assert_fails(page, "but the doc shows")

    def test_failing_sh_run_block(self):
        self.assert_fails("```sh run\nfalse\n```\n", "block failed")

    def test_untagged_block(self):
        self.assert_fails("```sh\nmake test\n```\n\n```\nsome text\n```\n", "without an info string")

    def test_bad_json(self):
        self.assert_fails("```sh\nmake test\n```\n\n```json\n{\"a\": }\n```\n", "does not parse")

    def test_page_without_commands(self):
        self.assert_fails("# a page\n\ntext only\n", "names no command")

    def test_broken_link(self):
        self.assert_fails("```sh\nmake test\n```\n\n![plot](img/gone.svg)\n", "img/gone.svg")

    def test_cluster_commands_are_not_checked(self):
        code, out = run_check({"docs/a.md": "```sh needs-cluster\nkubectl apply -k nowhere/\n```\n"})
        self.assertEqual(code, 0, out)


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", required=True)
    args, rest = ap.parse_known_args()
    BUILD = os.path.abspath(args.build)
    unittest.main(argv=[sys.argv[0]] + rest)
