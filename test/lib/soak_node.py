# What the soak drivers' throwaway nodes share (test/soak/kill9.py, test/soak/faults.py): shell
# and polling helpers, the node's files and pod netns, and the checks of what a trial must not
# leave behind. Each driver's Node sets up its own directories, links and networks on top.
"""Shared parts of the soak drivers' nodes."""

import json
import os
import signal
import sqlite3
import subprocess
import time

from journal_file import journal_record


def sh(cmd, check=True):
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if check and p.returncode != 0:
        raise RuntimeError("%s failed (%d): %s" % (" ".join(cmd), p.returncode, p.stderr))
    return p.stdout


def wait_until(pred, limit=15.0):
    """Polls `pred` until it holds or `limit` seconds pass; returns its last answer."""
    deadline = time.monotonic() + limit
    while not pred():
        if time.monotonic() >= deadline:
            return pred()
        time.sleep(0.01)
    return True


def sqlite_rows(db, query):
    """The rows of `query` in the SQLite file `db`; none when it or its table does not exist
    yet (a trial killed before the store was created)."""
    if not os.path.exists(db):
        return []
    con = sqlite3.connect(db, timeout=30)
    try:
        return list(con.execute(query))
    except sqlite3.OperationalError:
        return []
    finally:
        con.close()


class SoakNode:
    """A node in the temporary directory `self.dir`, with the uplink `self.uplink` (whose veth
    peer is `self.peer`) and the bridges `self.bridges` its networks create. Subclasses set
    those and `self.netns` (the pod netns made so far) before using what is here."""

    def path(self, *parts):
        return os.path.join(self.dir, *parts)

    def write(self, rel, obj):
        with open(self.path(rel), "w") as f:
            json.dump(obj, f)

    def add_netns(self, name):
        sh(["ip", "netns", "add", name])
        self.netns.add(name)
        return "/var/run/netns/" + name

    def del_netns(self, name):
        if name in self.netns:
            sh(["ip", "netns", "delete", name], check=False)
            self.netns.discard(name)

    # ---- What must be gone after a trial. ----
    def pod_links(self, ns):
        """Links in the pod netns but lo, each as "name (kind, state)" for the report."""
        out = sh(["ip", "-n", ns, "-d", "-j", "link", "show"], check=False) or "[]"
        return ["%s (%s, %s)" % (l["ifname"], l.get("linkinfo", {}).get("info_kind", "?"),
                                 l.get("operstate", "?"))
                for l in json.loads(out) if l["ifname"] != "lo"]

    def node_links(self):
        """Links on the node that a pod left: bridge ports and children of the uplink."""
        links = json.loads(sh(["ip", "-j", "link", "show"]) or "[]")
        return [l["ifname"] for l in links
                if l.get("master") in self.bridges
                or (l.get("link") == self.uplink and l["ifname"] != self.peer)]

    def live_journals(self, journal_dir):
        """Journals in `journal_dir` that owe work: all but tombstones and ADD markers (empty
        and read-only: the ADD recorded nothing, docs/journal.md)."""
        out = []
        for name in os.listdir(journal_dir):
            if not name.endswith(".journal"):
                continue
            path = os.path.join(journal_dir, name)
            try:
                st = os.lstat(path)
                if st.st_size == 0 and not st.st_mode & 0o200:
                    continue
                with open(path, "rb") as f:
                    if journal_record(f.read()).get("state") == "deleted":
                        continue
            except (OSError, ValueError):
                pass
            out.append(name)
        return out

    def processes(self, environ_mark=None):
        """PIDs running a program from this node's directory, or, with `environ_mark`, with
        that entry in their environment (what a delegate forks inherits it)."""
        mark = environ_mark.encode() if environ_mark else None
        pids = []
        for pid in os.listdir("/proc"):
            if not pid.isdigit() or int(pid) == os.getpid():
                continue
            try:
                with open("/proc/%s/cmdline" % pid, "rb") as f:
                    argv0 = f.read().split(b"\0")[0].decode(errors="replace")
                environ = []
                if mark:
                    with open("/proc/%s/environ" % pid, "rb") as f:
                        environ = f.read().split(b"\0")
            except OSError:
                continue
            if argv0.startswith(self.dir + "/") or (mark and mark in environ):
                pids.append(int(pid))
        return pids

    def kill_processes(self):
        for pid in self.processes():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
