#!/usr/bin/env python3
"""Doc-check: the commands in README.md and docs/*.md must still work (docs/README rules).

Every fenced block in the docs is classified by its info string (the words after ```):

  sh, bash          commands, one per line (`\\` continues a line, `#` starts a comment)
  console           `$ command` lines, each followed by the output it prints
  ... run           the block is executed here and must succeed; for `console run`, what
                    each command prints must match the lines below it in the doc
  ... needs-cluster commands that need a Kubernetes cluster: only rendered, never checked
  json, yaml        must parse (`…` stands for elided text and is not allowed in them)
  text, cpp, toml, mermaid, ...   rendered only
  (no info string)  an error: say what the block is

Every command of a sh/bash/console block that is not `needs-cluster` is checked statically,
whether or not it runs: `make T` names a Makefile target, a path such as `scripts/x.sh`
exists and is executable, `cnimuxctl SUB... --flag` names a real subcommand and flag (its
`--help` is asked), `cmake --build DIR --target T` names real targets, `ctest -R RE` selects
at least one test, and any other program is on PATH. Relative links (pages, plots) must
resolve. Every page must show at least one
command block, so every page names the commands it describes.

Usage: doc_check.py --source REPO --build BUILD_DIR [--list]
"""
import argparse
import glob
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile

COMMAND_LANGS = {"sh", "bash", "console"}
RENDER_ONLY_LANGS = {"text", "cpp", "c", "toml", "mermaid", "ini", "diff", "promql"}
# Programs a page may name that are not installed by `make test` (they need a node's runtime,
# or are optional tools an operator brings); their commands are checked only for shape.
NOT_INSTALLED_OK = {"sqlite3", "kubectl", "crictl", "podman", "systemctl", "journalctl",
                    "docker", "helm", "perf", "valgrind", "callgrind_annotate", "strace"}


class Block:
    def __init__(self, path, line, info, body):
        self.path, self.line, self.body = path, line, body
        words = info.split()
        self.lang = words[0] if words else ""
        self.flags = set(words[1:])

    def where(self):
        return f"{self.path}:{self.line}"


def read_blocks(path):
    blocks, lines = [], open(path, encoding="utf-8").read().split("\n")
    i = 0
    while i < len(lines):
        m = re.match(r"^(\s*)(```+)(.*)$", lines[i])
        if not m:
            i += 1
            continue
        fence, start, body = m.group(2), i + 1, []
        i += 1
        while i < len(lines) and not lines[i].strip().startswith(fence):
            body.append(lines[i])
            i += 1
        blocks.append(Block(path, start, m.group(3).strip(), body))
        i += 1
    return blocks


def strip_blocks(path):
    """The page's text outside code blocks and code spans (code is not a link)."""
    text = re.sub(r"^```.*?^```", "", open(path, encoding="utf-8").read(), flags=re.S | re.M)
    return re.sub(r"`[^`\n]*`", "", text)


def commands_of(block):
    """The commands of a sh/console block, joined across `\\` continuations."""
    cmds, pending = [], ""
    for raw in block.body:
        if block.lang == "console":
            if pending:
                line = raw
            elif raw.startswith("$ "):
                line = raw[2:]
            else:
                continue  # output
        else:
            line = raw
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        full = (pending + line).strip()
        pending = ""
        if full and not full.startswith("#"):
            cmds.append(full)
    return cmds


def words_of(cmd):
    """The words of one command, without a trailing comment or leading VAR=value pairs."""
    m = re.match(r"^[A-Za-z_][A-Za-z0-9_]*=\$\((.*)\)$", cmd.strip())
    if m:  # `v=$(cmd)`: check the inner command
        return words_of(m.group(1))
    try:
        words = shlex.split(cmd, comments=True)
    except ValueError as e:
        raise CheckError(f"cannot split {cmd!r}: {e}")
    while words and re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", words[0]):
        words.pop(0)
    return words


class CheckError(Exception):
    pass


class Checker:
    def __init__(self, source, build):
        self.source, self.build = source, build
        self.env = dict(os.environ)
        bindirs = sorted({os.path.dirname(p) for p in glob.glob(f"{build}/**/cnimux*", recursive=True)
                          if os.path.isfile(p) and os.access(p, os.X_OK)})
        self.env["PATH"] = ":".join(bindirs + [self.env.get("PATH", "")])
        self.make_targets = self._make_targets()
        self._ninja_targets = None
        self._help = {}

    def _make_targets(self):
        text = open(os.path.join(self.source, "Makefile"), encoding="utf-8").read()
        return set(re.findall(r"^([A-Za-z0-9_./-]+):", text, re.M))

    def ninja_targets(self):
        if self._ninja_targets is None:
            out = subprocess.run(["ninja", "-C", self.build, "-t", "targets", "all"],
                                 capture_output=True, text=True).stdout
            self._ninja_targets = {line.split(":")[0].split("/")[-1] for line in out.splitlines()}
        return self._ninja_targets

    def help_of(self, argv):
        key = tuple(argv)
        if key not in self._help:
            p = subprocess.run(argv + ["--help"], capture_output=True, text=True, env=self.env,
                               cwd=self.source, timeout=30)
            self._help[key] = (p.returncode, p.stdout + p.stderr)
        return self._help[key]

    def check_static(self, cmd):
        words = words_of(cmd)
        if not words:
            return
        prog = words[0]
        if prog in ("cd", "export", "echo", "set", "time", "sudo"):
            if prog in ("time", "sudo") and len(words) > 1:
                return self.check_static(shlex.join(words[1:]))
            return
        if prog == "make":
            for t in (w for w in words[1:] if not w.startswith("-") and "=" not in w):
                if t not in self.make_targets:
                    raise CheckError(f"`make {t}`: the Makefile has no target {t!r}")
            return
        if "/" in prog and not prog.startswith("/"):
            path = os.path.join(self.source, prog)
            if not (os.path.isfile(path) and os.access(path, os.X_OK)):
                raise CheckError(f"{prog!r} is not an executable file in the repository")
            return
        if prog == "cnimuxctl":
            return self.check_cnimuxctl(words)
        if prog == "cmake" and "--build" in words and "--target" in words:
            targets = words[words.index("--target") + 1:]
            targets = [t for t in targets if not t.startswith("-")]
            for t in targets:
                if t not in self.ninja_targets():
                    raise CheckError(f"`cmake --build ... --target {t}`: no such CMake target")
            return
        if prog == "ctest" and "-R" in words:
            regex = words[words.index("-R") + 1]
            out = subprocess.run(["ctest", "-N", "-R", regex], capture_output=True, text=True,
                                 cwd=self.build).stdout
            m = re.search(r"Total Tests:\s*(\d+)", out)
            if not m or int(m.group(1)) == 0:
                raise CheckError(f"`ctest -R {regex}` selects no test")
            return
        if shutil.which(prog, path=self.env["PATH"]) is None and prog not in NOT_INSTALLED_OK:
            raise CheckError(f"program {prog!r} is not installed (add it to scripts/install-deps.sh"
                             f" or to NOT_INSTALLED_OK in {os.path.relpath(__file__, self.source)})")

    def check_cnimuxctl(self, words):
        argv = [shutil.which("cnimuxctl", path=self.env["PATH"]) or "cnimuxctl"]
        i = 1
        # The subcommand path: leading words listed under "Subcommands:" in the help of
        # the path so far. A level that has subcommands takes no other bare word.
        while i < len(words) and not words[i].startswith("-"):
            code, text = self.help_of(argv)
            subs = self.subcommands(text)
            if not subs:
                break
            if words[i] not in subs:
                raise CheckError(f"`{' '.join(['cnimuxctl'] + argv[1:])}` has no subcommand {words[i]!r}")
            argv.append(words[i])
            i += 1
        flags = [w.split("=")[0] for w in words[i:] if w.startswith("--")]
        code, text = self.help_of(argv)
        if code != 0:
            raise CheckError(f"`{' '.join(words[:3])} --help` fails")
        helps = [self.help_of(argv[:n])[1] for n in range(1, len(argv) + 1)]
        for f in flags:
            if not any(re.search(re.escape(f) + r"\b", h) for h in helps):
                raise CheckError(f"`cnimuxctl {' '.join(argv[1:])}` has no option {f}")

    @staticmethod
    def subcommands(help_text):
        m = re.search(r"^Subcommands:\n((?:  \S.*\n?)+)", help_text, re.M)
        return {line.split()[0] for line in m.group(1).splitlines()} if m else set()

    def run_block(self, block):
        """Runs a `run` block in one bash process from the repository root."""
        cmds = commands_of(block)
        script, marker = ["__last=0"], "@@doc-check-{}@@"
        for n, cmd in enumerate(cmds):
            script.append(f"echo '{marker.format(n)}'; (exit $__last); {{ {cmd}\n}} 2>&1; __last=$?")
            if block.lang == "sh":
                script.append(f"[ $__last -eq 0 ] || {{ echo 'exit status '$__last; exit 1; }}")
        with tempfile.TemporaryDirectory(prefix="cnimux-doc-check-") as tmp:
            env = dict(self.env, HOME=tmp, TMPDIR=tmp)
            p = subprocess.run(["bash", "-c", "\n".join(script)], capture_output=True, text=True,
                               cwd=self.source, env=env, timeout=120)
        if block.lang == "sh":
            if p.returncode != 0:
                raise CheckError(f"block failed:\n{p.stdout}{p.stderr}")
            return
        got = re.split(r"@@doc-check-\d+@@\n", p.stdout)[1:]
        want = self.expected_outputs(block)
        for cmd, g, w in zip(cmds, got, want):
            g_lines = [l.rstrip() for l in g.rstrip("\n").split("\n")] if g.strip() else []
            if g_lines != w:
                raise CheckError(f"`{cmd}` printed:\n  " + "\n  ".join(g_lines) +
                                 "\nbut the doc shows:\n  " + "\n  ".join(w))

    @staticmethod
    def expected_outputs(block):
        outs, cur, pending = [], None, False
        for raw in block.body:
            if pending:
                pending = raw.rstrip().endswith("\\")
                continue
            if raw.startswith("$ "):
                if cur is not None:
                    outs.append(cur)
                cur = []
                pending = raw.rstrip().endswith("\\")
            elif cur is not None:
                cur.append(raw.rstrip())
        if cur is not None:
            outs.append(cur)
        return [o[:len(o) - next((i for i, l in enumerate(reversed(o)) if l), len(o))] for o in outs]


def check_data_block(block):
    text = "\n".join(block.body)
    if "…" in text:
        raise CheckError(f"{block.lang} block elides text with '…'; use a text block instead")
    if block.lang == "json":
        try:
            json.loads(text)
        except ValueError:
            # A page may show several JSON documents one per line (e.g. JSON Lines).
            for line in (l for l in block.body if l.strip()):
                try:
                    json.loads(line)
                except ValueError as e:
                    raise CheckError(f"json block does not parse: {e}")
    elif block.lang == "yaml":
        try:
            import yaml
        except ImportError:
            return
        try:
            list(yaml.safe_load_all(text))
        except yaml.YAMLError as e:
            raise CheckError(f"yaml block does not parse: {e}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--source", required=True)
    ap.add_argument("--build", required=True)
    ap.add_argument("--list", action="store_true", help="print every checked command")
    args = ap.parse_args()
    checker = Checker(os.path.abspath(args.source), os.path.abspath(args.build))
    pages = [os.path.join(args.source, "README.md")] + sorted(glob.glob(f"{args.source}/docs/*.md"))
    failures, counts = [], {"static": 0, "run": 0, "cluster": 0, "data": 0, "rendered": 0}
    for page in pages:
        rel = os.path.relpath(page, args.source)
        blocks = read_blocks(page)
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", strip_blocks(page)):
            if not re.match(r"^[a-z]+:", target) and \
                    not os.path.exists(os.path.join(os.path.dirname(page), target)):
                failures.append(f"{rel}: links to {target}, which does not exist")
        if not any(b.lang in COMMAND_LANGS for b in blocks):
            failures.append(f"{rel}: names no command (add a sh or console block)")
        for b in blocks:
            b.path = rel
            try:
                if b.lang == "":
                    raise CheckError("fenced block without an info string (sh, console, text, ...)")
                if b.lang in ("json", "yaml"):
                    check_data_block(b)
                    counts["data"] += 1
                    continue
                if b.lang not in COMMAND_LANGS:
                    if b.lang not in RENDER_ONLY_LANGS:
                        raise CheckError(f"unknown info string {b.lang!r}")
                    counts["rendered"] += 1
                    continue
                if "needs-cluster" in b.flags:
                    counts["cluster"] += len(commands_of(b))
                    continue
                for cmd in commands_of(b):
                    if args.list:
                        print(f"{b.where()}: {cmd}")
                    checker.check_static(cmd)
                    counts["static"] += 1
                if "run" in b.flags:
                    checker.run_block(b)
                    counts["run"] += 1
            except CheckError as e:
                failures.append(f"{b.where()}: {e}")
    print(f"doc-check: {len(pages)} pages; {counts['static']} commands checked, "
          f"{counts['run']} blocks run, {counts['cluster']} cluster commands rendered only, "
          f"{counts['data']} json/yaml blocks parsed, {counts['rendered']} other blocks")
    for f in failures:
        print("FAIL " + f)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
