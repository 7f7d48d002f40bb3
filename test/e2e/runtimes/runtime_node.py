# Shared parts of the real-runtime e2e tests: a temporary node directory with cnimux's bin dir,
# conflists and NADs, a network namespace for the node, and cleanup that runs also on failure.
"""Helpers for test/e2e/runtimes/*_e2e.py (run as root under /usr/bin/python3)."""

import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time


sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "lib"))
from journal_file import journal_record  # noqa: E402  (one reader of the journal's file format)


SKIP = 77  # ctest SKIP_RETURN_CODE: the runtime itself cannot start here


class Failure(Exception):
    pass


def log(msg):
    print(msg, flush=True)


def sh(cmd, check=True, **kw):
    """Runs `cmd` (a list), returning stdout; raises Failure with stderr on error."""
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)
    if check and p.returncode != 0:
        raise Failure("%s failed (%d): %s%s" % (" ".join(cmd), p.returncode, p.stdout, p.stderr))
    return p.stdout


def expect(cond, what):
    if not cond:
        raise Failure(what)


def wait_until(pred, what, limit=30.0):
    """Polls `pred` until it holds; Failure naming `what` after `limit` seconds."""
    deadline = time.monotonic() + limit
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() >= deadline:
            raise Failure("timed out waiting for " + what)
        time.sleep(0.05)


class Node:
    """A temporary node: <dir>/bin (cnimux, cnimux-ipam, reference plugins), <dir>/net.d (the
    runtime's conflist dir), <dir>/cnimux.d (the cluster network), <dir>/nads, <dir>/pods,
    <dir>/journal, <dir>/ipam.db. Cleanup callbacks run newest first."""

    def __init__(self, build_dir, tag):
        build_dir = os.path.abspath(build_dir)
        self.build = build_dir
        self.tag = tag  # unique per run: names of netns, links and cgroups start with it
        self.dir = tempfile.mkdtemp(prefix="cnimux-%s-" % tag)
        self._undo = [lambda: shutil.rmtree(self.dir, ignore_errors=True)]
        for sub in ("bin", "net.d", "cnimux.d", "nads", "pods", "journal"):
            os.makedirs(os.path.join(self.dir, sub))
        self.link_bin(os.path.join(build_dir, "plugin", "cnimux"), "cnimux")
        self.link_bin(os.path.join(build_dir, "ipam", "cnimux-ipam"), "cnimux-ipam")
        self.link_bin(os.path.join(build_dir, "test", "fakes", "delegates", "cnimux-fake-delegate"),
                      "cnimux-fake-delegate")
        for p in ("bridge", "macvlan", "host-local", "loopback", "portmap", "tuning"):
            self.link_bin("/usr/lib/cni/" + p, p)

    def path(self, *parts):
        return os.path.join(self.dir, *parts)

    def link_bin(self, target, name):
        os.symlink(target, self.path("bin", name))

    def on_cleanup(self, fn):
        self._undo.append(fn)

    def cleanup(self):
        while self._undo:
            fn = self._undo.pop()
            try:
                fn()
            except Exception as e:  # cleanup goes on; the first failure was reported already
                log("cleanup: %s" % e)

    # ---- networks ----

    def ipam(self, subnet, routes=None):
        conf = {"type": "cnimux-ipam", "ranges": [[{"subnet": subnet}]],
                "store": {"type": "sqlite", "path": self.path("ipam.db")}}
        if routes:
            conf["routes"] = routes
        return conf

    def write_cluster_network(self, bridge, subnet, name="cluster", version="1.0.0", caps=None):
        plugin = {"type": "bridge", "bridge": bridge, "isGateway": True,
                  "ipam": self.ipam(subnet, [{"dst": "0.0.0.0/0"}])}
        if caps:
            plugin["capabilities"] = caps
        self.write(self.path("cnimux.d", name + ".conflist"),
                   {"cniVersion": version, "name": name, "plugins": [plugin]})

    def macvlan(self, master, subnet, caps=None):
        conf = {"cniVersion": "1.0.0", "type": "macvlan", "master": master, "mode": "bridge",
                "ipam": self.ipam(subnet)}
        if caps:
            conf["capabilities"] = caps
        return conf

    @staticmethod
    def nad_object(ns, name, config):
        return {"apiVersion": "k8s.cni.cncf.io/v1", "kind": "NetworkAttachmentDefinition",
                "metadata": {"name": name, "namespace": ns, "uid": "nad-" + name},
                "spec": {"config": json.dumps(config)}}

    def write_nad(self, ns, name, config):
        self.write(self.path("nads", "%s-%s.json" % (ns, name)), self.nad_object(ns, name, config))

    def meta(self, **overrides):
        """The cnimux entry of the runtime's conflist."""
        m = {"type": "cnimux", "clusterNetwork": "cluster", "confDir": self.path("cnimux.d"),
             "cniDir": self.path("journal"), "binDir": self.path("bin"),
             "nadDir": self.path("nads"), "podDir": self.path("pods"), "delegateTimeout": 20,
             "logLevel": "debug", "logFile": self.path("cnimux.log")}
        m.update(overrides)
        return m

    def write_meta_conflist(self, meta, name="cnimux", version="1.0.0"):
        self.write(self.path("net.d", "00-cnimux.conflist"),
                   {"cniVersion": version, "name": name, "plugins": [meta]})

    @staticmethod
    def write(path, obj):
        with open(path, "w") as f:
            f.write(obj if isinstance(obj, str) else json.dumps(obj, indent=1))

    # ---- what is left ----

    def held_addresses(self):
        """(network, container_id, ifname) of every allocation in the IPAM store."""
        db = self.path("ipam.db")
        if not os.path.exists(db):
            return []
        con = sqlite3.connect(db)
        try:
            return con.execute("select network, container_id, ifname from allocations").fetchall()
        except sqlite3.OperationalError:  # no table yet: nothing was ever allocated
            return []
        finally:
            con.close()

    def container_files(self):
        """Files of cniDir that owe work: journals other than tombstones (a finished DEL's
        record, which owes nothing), and anything else that is not a dotfile."""
        out = []
        for f in os.listdir(self.path("journal")):
            if f.startswith("."):
                continue
            try:
                with open(os.path.join(self.path("journal"), f), "rb") as fh:
                    if journal_record(fh.read()).get("state") == "deleted":
                        continue
            except (ValueError, OSError, AttributeError):
                pass
            out.append(f)
        return out

    def log_text(self):
        try:
            with open(self.path("cnimux.log")) as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def delegate_runs(self, container_id, verb):
        """How many delegate processes cnimux started for `container_id` with `verb`."""
        pat = re.compile(r": started \S+ %s pid " % verb)
        return sum(1 for line in self.log_text().splitlines()
                   if container_id in line and pat.search(line))


# ---- kernel objects ----

def add_netns(node, name):
    sh(["ip", "netns", "add", name])
    node.on_cleanup(lambda: sh(["ip", "netns", "delete", name], check=False))
    sh(["ip", "-n", name, "link", "set", "lo", "up"])


def links_in(netns_path):
    out = sh(["nsenter", "--net=" + netns_path, "ip", "-o", "link", "show"])
    names = [re.split(r"[@:]", line.split(": ", 1)[1])[0] for line in out.splitlines() if ": " in line]
    return sorted(n for n in names if n != "lo")


def addresses_in(netns_path, ifname):
    out = sh(["nsenter", "--net=" + netns_path, "ip", "-o", "-4", "addr", "show", "dev", ifname,
              "scope", "global"])
    return [line.split()[3] for line in out.splitlines()]


def kill_processes_mentioning(text):
    """SIGKILLs, by pid, every process whose command line contains `text` (a unique temp path)."""
    me = os.getpid()
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == me:
            continue
        try:
            with open("/proc/%s/cmdline" % pid, "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in cmd:
            try:
                os.kill(int(pid), signal.SIGKILL)
            except ProcessLookupError:
                pass


def unmount_under(prefix):
    """Lazily unmounts every mount point under `prefix`, deepest first."""
    with open("/proc/self/mountinfo") as f:
        points = [line.split()[4] for line in f]
    for p in sorted((p for p in points if p.startswith(prefix)), key=len, reverse=True):
        subprocess.run(["umount", "-l", p], stderr=subprocess.DEVNULL)


def remove_netns_file(path):
    if os.path.exists(path):
        subprocess.run(["umount", "-l", path], stderr=subprocess.DEVNULL)
        try:
            os.remove(path)
        except OSError:
            pass


def remove_cgroups(name):
    """Kills every process in the cgroup `name` (a top-level directory, in each v1 hierarchy or
    in v2) and removes its tree, deepest first."""
    roots = ["/sys/fs/cgroup"] + [os.path.join("/sys/fs/cgroup", d) for d in os.listdir("/sys/fs/cgroup")]
    tops = [os.path.join(r, name) for r in roots
            if not os.path.islink(r) and os.path.isdir(os.path.join(r, name))]

    def members():
        pids = set()
        for top in tops:
            for dirpath, _, files in os.walk(top):
                if "cgroup.procs" in files:
                    try:
                        with open(os.path.join(dirpath, "cgroup.procs")) as f:
                            pids |= {int(x) for x in f.read().split()}
                    except OSError:
                        pass
        return pids

    for pid in members():
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    try:
        wait_until(lambda: not members(), "processes of cgroup " + name + " to exit", 15)
    except Failure as e:
        log("cleanup: %s" % e)
    for top in tops:
        for dirpath, _, _ in sorted(os.walk(top), key=lambda w: len(w[0]), reverse=True):
            try:
                os.rmdir(dirpath)
            except OSError as e:
                log("cleanup: rmdir %s: %s" % (dirpath, e))


def run_main(body, node):
    """Runs body(), mapping Failure to exit 1 with the tails of the logs that explain it."""
    try:
        body()
    except Failure as e:
        log("FAIL: %s" % e)
        for name in ("cnimux.log", "containerd.log"):
            try:
                with open(node.path(name)) as f:
                    log("---- tail of %s ----\n%s" % (name, f.read()[-6000:]))
            except OSError:
                pass
        sys.exit(1)
    log("PASS")
