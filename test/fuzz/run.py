#!/usr/bin/env python3
# Runs every libFuzzer target of a CNIMUX_FUZZ build for a bounded time and prints a table:
# target, executions, CPU-seconds, crashes (`make fuzz`).
"""Usage: run.py BUILD_FUZZ_DIR [SECONDS] [TARGET...]   (FUZZ_SECONDS, default 60)

Each target starts from its seed corpus (test/fuzz/<target>/corpus) plus what earlier runs
found (BUILD_FUZZ_DIR/fuzz-corpus/<target>, which the run grows; the seeds stay untouched).
A crash, leak, timeout or OOM stops that target; its input lands in
BUILD_FUZZ_DIR/fuzz-artifacts/<target>/ and is listed below the table. Exit status 1 when
any target found one."""

import os
import re
import resource
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
TARGETS = ["selection", "nad_config", "meta_config", "cni_result", "cni_args", "kubeconfig",
           "manifests", "journal", "ipam_config"]


def cpu_of_children():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def run_target(build, target, seconds):
    exe = os.path.join(build, "test", "fuzz", "fuzz_" + target)
    work = os.path.join(build, "fuzz-corpus", target)
    artifacts = os.path.join(build, "fuzz-artifacts", target)
    os.makedirs(work, exist_ok=True)
    os.makedirs(artifacts, exist_ok=True)
    cmd = [exe, "-max_total_time=%d" % seconds, "-print_final_stats=1", "-timeout=10",
           "-rss_limit_mb=2048", "-max_len=65536", "-artifact_prefix=" + artifacts + "/",
           work, os.path.join(HERE, target, "corpus")]
    old = set(os.listdir(artifacts))  # findings of earlier runs are not counted again
    cpu_before = cpu_of_children()
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                       errors="replace")
    cpu = cpu_of_children() - cpu_before
    with open(os.path.join(build, "fuzz-%s.log" % target), "w") as f:
        f.write(p.stdout)
    m = re.search(r"stat::number_of_executed_units:\s*(\d+)", p.stdout)
    execs = int(m.group(1)) if m else 0
    found = sorted(os.path.join(artifacts, a) for a in set(os.listdir(artifacts)) - old
                   if a.split("-")[0] in ("crash", "leak", "timeout", "oom", "slow"))
    return execs, cpu, found, p.returncode


def main():
    if len(sys.argv) < 2:
        print(__doc__)
        return 2
    build = os.path.abspath(sys.argv[1])
    seconds = int(sys.argv[2]) if len(sys.argv) > 2 else int(os.environ.get("FUZZ_SECONDS", "60"))
    targets = sys.argv[3:] or TARGETS
    rows, findings = [], []
    for t in targets:
        print("fuzzing %s for %d s ..." % (t, seconds), flush=True)
        execs, cpu, found, rc = run_target(build, t, seconds)
        rows.append((t, execs, cpu, len(found)))
        findings += found
        if rc != 0 and not found:
            findings.append("%s: exit status %d, see %s/fuzz-%s.log" % (t, rc, build, t))
    print()
    print("| target | executions | CPU-seconds | crashes |")
    print("|---|---:|---:|---:|")
    for t, execs, cpu, n in rows:
        print("| %s | %d | %.0f | %d |" % (t, execs, cpu, n))
    print("| total | %d | %.0f | %d |" % (sum(r[1] for r in rows), sum(r[2] for r in rows),
                                          sum(r[3] for r in rows)))
    print("\n(%d s per target, clang -fsanitize=fuzzer,address,undefined; logs in %s/fuzz-*.log)"
          % (seconds, build))
    for f in findings:
        print("finding: " + f)
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main())
