#!/usr/bin/env python3
# The randomized fault campaign: random pods of 1-4 networks over real netns, a random fault at
# a random position in each ADD, the runtime's DELs and GC after it, and a check that nothing
# leaked and that no pod stayed wedged. Prints a table of trials, faults by kind and findings.
"""Usage: faults.py --build BUILD_DIR [--trials N] [--seed S]   (root; SOAK_TRIALS, SOAK_SEED)

Each trial builds a pod: the cluster network (reference bridge with cnimux-ipam, or with
host-local) and 0-3 extra networks picked from: reference bridge, reference macvlan (in-tree
macvlan when the trial sets `inTree: ["macvlan"]`), each with cnimux-ipam or host-local, and
cnimux-fake-delegate when a fault needs a misbehaving delegate. The pod and its NADs come from
the fake Kubernetes API (test/fakes/kube_api) in some trials, else from CRI pod annotations
(runtimeConfig) and nadDir. cniDir, the SQLite store and host-local's dataDir live on a small
tmpfs, so the disk can be filled.

Faults at ADD (at most one per trial, at a random position): delegate error, hang past
delegateTimeout, crash (SIGSEGV), garbage output, a grandchild that keeps running and holds the
pipes, IPAM exhaustion (a one-address range attached twice), API 5xx, API timeout, disk full.
Faults between ADD and DEL (independently): netns deleted, a NAD edited, a NAD deleted, the
pod's networks annotation edited, a delegate whose DEL fails until the fault is cleared, the
API failing every request, GC listing the pod as valid. Then the runtime's DEL (sometimes with
the netns gone and CNI_NETNS empty, sometimes with another cniVersion, sometimes twice), with
the faults still on; then the faults are cleared and DEL is retried up to 3 times (a pod whose
DEL never succeeds is wedged); then GC with an empty valid list.

After every trial: no link stacked on the uplink or enslaved to a campaign bridge, none but lo
left in the pod netns, no row in the SQLite store's allocations and no host-local reservation
(no pod is live then), no journal but tombstones in cniDir, no process running from the node's
directory or with its CNI_PATH. Also counted, as unexpected: an ADD that failed with no fault
injected (or with only a stray grandchild, whose plugin succeeded), and a GC listing the pod
that failed or released the pod's addresses. Exit status 1
when any trial leaked, wedged or had an unexpected outcome. SOAK_VERBOSE=1 prints each trial."""

import argparse
import json
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile

import time
import urllib.request

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from soak_node import SoakNode, sh, sqlite_rows, wait_until  # noqa: E402  (shared with kill9.py)

SRC = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ADD_FAULTS = (("none", 3), ("delegate error", 3), ("delegate hang", 1), ("delegate crash", 2),
              ("garbage output", 2), ("grandchild", 2), ("IPAM exhaustion", 2),
              ("API 5xx", 4), ("API timeout", 3), ("disk full", 2))  # API: API trials only
API_FAULTS = ("API 5xx", "API timeout")
FAKE_FAULTS = ("delegate error", "delegate hang", "delegate crash", "garbage output", "grandchild")
GARBAGE = ("garbage", "two", "nothing", "flood", "deep", "noversion")
STATE_TMPFS = "16m"


def pick(rng, weighted):
    return rng.choices([k for k, _ in weighted], [w for _, w in weighted])[0]


class FakeApi:
    """test/fakes/kube_api/fake_kube_api.py over plain HTTP on 127.0.0.1, with a kubeconfig."""

    def __init__(self, workdir):
        self.dir = workdir
        self.token = "fc-token-%d" % os.getpid()
        port_file = os.path.join(workdir, "api.port")
        self.proc = subprocess.Popen(
            [sys.executable, os.path.join(SRC, "test/fakes/kube_api/fake_kube_api.py"),
             "--port-file", port_file, "--log-file", os.path.join(workdir, "api.log"),
             "--token", self.token], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if not wait_until(lambda: os.path.exists(port_file), 15):
            raise RuntimeError("fake kube API did not start")
        with open(port_file) as f:
            self.url = "http://127.0.0.1:%d" % int(f.read())
        self.kubeconfig = os.path.join(workdir, "kubeconfig")
        with open(self.kubeconfig, "w") as f:
            f.write("apiVersion: v1\nkind: Config\ncurrent-context: fake\nclusters:\n"
                    "- name: fake\n  cluster:\n    server: %s\nusers:\n- name: fake\n  user:\n"
                    "    token: %s\ncontexts:\n- name: fake\n  context:\n    cluster: fake\n"
                    "    user: fake\n" % (self.url, self.token))

    def control(self, cmd):
        req = urllib.request.Request(self.url + "/_control", data=json.dumps(cmd).encode(),
                                     method="POST")
        with urllib.request.urlopen(req, timeout=10) as r:
            return json.loads(r.read())

    def normal(self):
        self.control({"mode": "normal", "delay_ms": 0, "fail_next": 0, "fail_methods": [],
                      "clear_log": True})

    def stop(self):
        self.proc.kill()
        self.proc.wait()


class Node(SoakNode):
    """A throwaway node: bin dir, net.d and nadDir in a temporary directory; cniDir, the SQLite
    IPAM store and host-local's dataDir on a small tmpfs; a veth uplink for macvlan; the
    bridges the networks create. Every name starts with `prefix`; cleanup() removes it all."""

    def __init__(self, build, prefix):
        self.prefix = prefix
        self.uplink, self.peer = prefix + "u", prefix + "p"
        self.bridges = [prefix + "b0", prefix + "b1", prefix + "b2"]
        self.netns = set()
        self.mounted = False
        self.api = None
        self.dir = tempfile.mkdtemp(prefix="cnimux-faults-%s-" % prefix)
        for sub in ("bin", "net.d", "nads", "state", "armed"):
            os.makedirs(self.path(sub))
        for name, target in (("cnimux", "plugin/cnimux"), ("cnimux-ipam", "ipam/cnimux-ipam"),
                             ("cnimux-fake-delegate",
                              "test/fakes/delegates/cnimux-fake-delegate")):
            os.symlink(os.path.join(build, target), self.path("bin", name))
        for p in ("bridge", "macvlan", "host-local", "loopback"):
            os.symlink("/usr/lib/cni/" + p, self.path("bin", p))
        sh(["mount", "-t", "tmpfs", "-o", "size=%s,mode=0700" % STATE_TMPFS,
            prefix + "-state", self.path("state")])
        self.mounted = True
        for sub in ("journal", "hl"):
            os.makedirs(self.path("state", sub))
        sh(["ip", "link", "add", self.uplink, "type", "veth", "peer", "name", self.peer])
        sh(["ip", "link", "set", self.uplink, "up"])
        self.store = {"type": "sqlite", "path": self.path("state", "ipam.db")}
        for name, bridge, ipam in (("fc-cluster-cx", self.bridges[0], "cnimux-ipam"),
                                   ("fc-cluster-hl", self.bridges[1], "host-local")):
            conf = {"cniVersion": "1.0.0", "name": name, "plugins": [{
                "type": "bridge", "bridge": bridge, "isGateway": True,
                "ipam": self.ipam(ipam, "10.241.%d.0/24" % (0 if ipam == "cnimux-ipam" else 1),
                                  routes=[{"dst": "0.0.0.0/0"}])}]}
            self.write("net.d/%s.conflist" % name, conf)
        self.meta = {"cniVersion": "1.1.0", "name": "cnimux", "type": "cnimux",
                     "confDir": self.path("net.d"), "cniDir": self.path("state", "journal"),
                     "binDir": self.path("bin"), "nadDir": self.path("nads"),
                     "delegateTimeout": 10, "logLevel": "info",
                     "logFile": self.path("cnimux.log")}

    def ipam(self, kind, subnet, one_address=False, routes=None):
        r = {"subnet": subnet}
        if one_address:
            base = subnet.rsplit(".", 1)[0]
            r.update(rangeStart=base + ".9", rangeEnd=base + ".9")
        conf = {"type": kind, "ranges": [[r]]}
        if routes:
            conf["routes"] = routes
        if kind == "cnimux-ipam":
            conf["store"] = self.store
        else:
            conf["dataDir"] = self.path("state", "hl")
        return conf

    def run(self, verb, meta, cid="", netns="", pod="", gc_valid=None, timeout=120):
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "CNI_COMMAND": verb,
               "CNI_PATH": self.path("bin")}
        if verb != "GC":
            env.update(CNI_CONTAINERID=cid, CNI_IFNAME="eth0",
                       CNI_ARGS="IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=" + pod)
            if netns:
                env["CNI_NETNS"] = netns
        conf = dict(meta)
        if gc_valid is not None:
            conf["cniVersion"] = "1.1.0"
            conf["cni.dev/valid-attachments"] = gc_valid
        p = subprocess.run([self.path("bin", "cnimux")], env=env, input=json.dumps(conf).encode(),
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout)
        return p.returncode, (p.stdout + p.stderr).decode(errors="replace").strip()

    # ---- Disk full: a filler file takes the tmpfs but `slack` bytes. ----
    def fill(self, slack):
        filler = self.path("state", ".filler")
        fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            chunk = b"\0" * 65536
            while True:
                try:
                    if os.write(fd, chunk) <= 0:
                        break
                except OSError:
                    if len(chunk) == 512:
                        break
                    chunk = chunk[:len(chunk) // 2]  # fill the last pages too
        finally:
            os.close(fd)
        os.truncate(filler, max(0, os.path.getsize(filler) - slack))

    def unfill(self):
        try:
            os.unlink(self.path("state", ".filler"))
        except FileNotFoundError:
            pass

    # ---- What must be gone after a trial (the rest is in SoakNode). ----
    def held_addresses(self):
        held = ["%s:%s" % r for r in sqlite_rows(self.path("state", "ipam.db"),
                                                 "SELECT container_id, ifname FROM allocations")]
        hl = self.path("state", "hl")
        for net in os.listdir(hl):
            for name in os.listdir(os.path.join(hl, net)):
                if name != "lock" and not name.startswith("last_reserved_ip"):
                    held.append("host-local %s/%s" % (net, name))
        return held

    def live_journals(self):
        return SoakNode.live_journals(self, self.path("state", "journal"))

    def processes(self):
        """Also what a delegate forked: it inherits CNI_PATH (a `sleep` grandchild included)."""
        return SoakNode.processes(self, "CNI_PATH=" + self.path("bin"))

    def reset(self):
        """After a failed trial, clears what it left so the next trial starts clean."""
        self.kill_processes()
        for link in self.node_links():
            sh(["ip", "link", "delete", link], check=False)
        db = self.path("state", "ipam.db")
        if os.path.exists(db):
            con = sqlite3.connect(db, timeout=30)
            try:
                con.execute("DELETE FROM allocations")
                con.commit()
            except sqlite3.OperationalError:
                pass
            con.close()
        shutil.rmtree(self.path("state", "hl"), ignore_errors=True)
        os.makedirs(self.path("state", "hl"), exist_ok=True)
        for name in self.live_journals():
            os.unlink(self.path("state", "journal", name))

    def cleanup(self):
        self.kill_processes()
        if self.api:
            self.api.stop()
        for ns in list(self.netns):
            self.del_netns(ns)
        for link in [self.uplink] + self.bridges:
            sh(["ip", "link", "delete", link], check=False)
        if self.mounted:
            sh(["umount", "-l", self.path("state")], check=False)
        shutil.rmtree(self.dir, ignore_errors=True)


class Trial:
    """One pod's plan, its faults and what the runtime does; built from the seeded rng only."""

    def __init__(self, node, rng, n, use_api):
        self.node, self.n = node, n
        self.cid, self.pod = "%s-c%d" % (node.prefix, n), "p%d" % n
        self.ns_name = "%st%d" % (node.prefix, n)
        self.use_api = use_api
        self.armed = node.path("armed", "t%d" % n)
        self.cluster_ipam = rng.choice(("cnimux-ipam", "host-local"))
        self.in_tree = rng.random() < 0.5
        self.add_fault = pick(rng, [f for f in ADD_FAULTS if use_api or f[0] not in API_FAULTS])
        self.del_fails = rng.random() < 0.15
        # At most 3 networks beside the cluster network: the fakes a fault needs, the real
        # ones, and for IPAM exhaustion one real network attached a second time.
        room = 3 - (self.add_fault in FAKE_FAULTS) - self.del_fails
        if self.add_fault == "IPAM exhaustion":
            extras = rng.randint(1, room - 1)
        else:
            extras = rng.randint(0, room)
        self.nads = []  # (name, config)
        for i in range(extras):
            self.nads.append(self.real_network(rng, "t%d-x%d" % (n, i)))
        self.selection = [name for name, _ in self.nads]
        self.fault_detail = ""
        self.plan_fault(rng)
        if self.del_fails:
            self.add_fake(rng, {"del": "error", "armed": self.armed,
                                "msg": "fake DEL failure"}, "fc-delfail")
        cluster = "fc-cluster-" + ("cx" if self.cluster_ipam == "cnimux-ipam" else "hl")
        self.meta = dict(node.meta, clusterNetwork=cluster)
        if self.in_tree:
            self.meta["inTree"] = ["macvlan"]
        if self.add_fault == "delegate hang":
            self.meta["delegateTimeout"] = 1
        if use_api:
            self.meta.update(kubeconfig=node.api.kubeconfig, apiTimeout=3)
        # Between ADD and DEL, and the runtime's behaviour.
        self.netns_deleted = rng.random() < 0.25
        self.del_empty_netns = self.netns_deleted and rng.random() < 0.7
        self.nad_edit = rng.choice((None, None, None, "edited", "deleted")) if self.nads else None
        if self.nad_edit == "deleted" and use_api:
            self.nad_edit = "edited"  # the fake API can replace a NAD, not delete one
        self.annotation_edited = rng.random() < 0.15
        self.api_down_at_del = use_api and rng.random() < 0.3
        self.gc_live = rng.random() < 0.2
        self.del_version = rng.choice(("1.1.0",) * 4 + ("1.0.0", "0.4.0", "0.3.1"))
        self.del_twice = rng.random() < 0.3

    def real_network(self, rng, name):
        kind = rng.choice(("bridge", "macvlan", "macvlan"))
        ipam = rng.choice(("cnimux-ipam", "host-local"))
        k = ("bridge", "macvlan").index(kind) * 2 + (ipam == "host-local")
        conf = {"cniVersion": "1.0.0", "name": "fc-%s-%s" % (kind, ipam[:2]), "type": kind,
                "ipam": self.node.ipam(ipam, "10.242.%d.0/24" % k)}
        if kind == "bridge":
            conf["bridge"] = self.node.bridges[2]
        else:
            conf.update(master=self.node.uplink, mode="bridge")
        return name, conf

    def add_fake(self, rng, fake, conf_name):
        """Adds a cnimux-fake-delegate NAD behaving as `fake` says, at a random position."""
        name = "t%d-f%d" % (self.n, len(self.nads))
        conf = {"cniVersion": "1.0.0", "name": conf_name, "type": "cnimux-fake-delegate",
                "fake": dict(fake, pidfile=self.node.path("armed", name + ".pid"),
                             address="10.99.%d.2/24" % len(self.nads))}
        self.nads.append((name, conf))
        self.selection.insert(rng.randint(0, len(self.selection)), name)

    def plan_fault(self, rng):
        f = self.add_fault
        modes = {"delegate error": "error", "delegate hang": "hang", "delegate crash": "segv",
                 "grandchild": "orphan"}
        if f in modes:
            fake = {"add": modes[f], "code": rng.choice((7, 11, 999)), "msg": "injected"}
            self.add_fake(rng, fake, "fc-fake")
            self.fault_detail = "at %d of %d" % (self.selection.index(self.nads[-1][0]) + 2,
                                                   len(self.selection) + 1)
        elif f == "garbage output":
            mode = rng.choice(GARBAGE)
            self.add_fake(rng, {"add": mode}, "fc-fake")
            self.fault_detail = mode
        elif f == "IPAM exhaustion":
            # One network whose range holds one address, attached twice: the second fails.
            i = rng.randrange(len(self.nads))
            name, conf = self.nads[i]
            ipam = conf["ipam"]["type"]
            conf = dict(conf, name="fc-tiny-" + ipam[:2],
                        ipam=self.node.ipam(ipam, "10.243.%d.0/24" % (ipam == "host-local"),
                                            one_address=True))
            self.nads[i] = (name, conf)
            self.selection.insert(rng.randint(0, len(self.selection)), name)
            self.fault_detail = ipam
        elif f == "API 5xx":
            if rng.random() < 0.3:
                self.api_cmd = {"fail_methods": ["PATCH"], "fail_status": 500}
                self.fault_detail = "every PATCH"
            else:
                k = rng.randint(1, 6)
                self.api_cmd = {"fail_next": k, "fail_status": rng.choice((500, 503))}
                self.fault_detail = "next %d" % k
        elif f == "API timeout":
            ms = rng.choice((800, 5000))
            self.api_cmd = {"mode": "slow", "delay_ms": ms}
            self.fault_detail = "%d ms a request" % ms
        elif f == "disk full":
            self.slack = rng.choice((0, 1024, 4096, 16384, 65536))
            self.fault_detail = "%d bytes free" % self.slack

    def annotations(self, selection):
        return {"k8s.v1.cni.cncf.io/networks": ",".join(selection)}

    def publish(self, selection):
        """Makes the pod and its NADs visible where this trial's cnimux looks for them."""
        if self.use_api:
            self.node.api.control({
                "add_pods": [{"metadata": {"name": self.pod, "namespace": "default",
                                           "annotations": self.annotations(selection)}}],
                "add_nads": [self.nad_object(n, c) for n, c in self.nads]})
        else:
            for n, c in self.nads:
                self.node.write("nads/%s.json" % n, self.nad_object(n, c))

    def nad_object(self, name, conf):
        return {"apiVersion": "k8s.cni.cncf.io/v1", "kind": "NetworkAttachmentDefinition",
                "metadata": {"name": name, "namespace": "default"},
                "spec": {"config": json.dumps(conf)}}

    def meta_for(self, selection, version=None):
        meta = dict(self.meta)
        if version:
            meta["cniVersion"] = version
        if not self.use_api:
            meta["capabilities"] = {"io.kubernetes.cri.pod-annotations": True}
            meta["runtimeConfig"] = {
                "io.kubernetes.cri.pod-annotations": self.annotations(selection)}
        return meta

    def edit_nads(self, rng):
        """A NAD edited (its config now names a delegate whose every verb fails, a type that is
        not installed, another subnet or another master) or deleted between ADD and DEL."""
        i = rng.randrange(len(self.nads))
        name, conf = self.nads[i]
        if self.nad_edit == "deleted":
            os.unlink(self.node.path("nads", name + ".json"))
            return
        edits = (
            {"cniVersion": "1.0.0", "name": conf["name"], "type": "cnimux-fake-delegate",
             "fake": {"add": "error", "del": "error", "msg": "edited NAD"}},
            dict(conf, type="fc-not-installed"),
            dict(conf, ipam=dict(conf.get("ipam", {}), ranges=[[{"subnet": "10.250.0.0/24"}]])),
            dict(conf, master=self.node.peer))
        k = rng.randrange(len(edits))
        self.nads[i] = (name, edits[k])
        self.publish(self.selection)


def run_add(node, t, stats):
    """Arms the trial's ADD fault and runs ADD; returns its exit status."""
    netns = node.add_netns(t.ns_name)
    t.publish(t.selection)
    if t.del_fails:
        open(t.armed, "w").close()
    if t.use_api:
        node.api.normal()
        if t.add_fault in API_FAULTS:
            node.api.control(t.api_cmd)
    if t.add_fault == "disk full":
        node.fill(t.slack)
    add_rc, out = node.run("ADD", t.meta_for(t.selection), t.cid, netns, t.pod)
    stats["add_ok" if add_rc == 0 else "add_failed"] += 1
    stats["add_failed_by"][t.add_fault] = stats["add_failed_by"].get(t.add_fault, 0) + (add_rc != 0)
    if os.environ.get("SOAK_VERBOSE"):
        print("trial %d: %s + %s, fault %s (%s), api=%s: ADD rc %d %s" %
              (t.n, t.meta["clusterNetwork"], [c["name"] for _, c in t.nads], t.add_fault,
               t.fault_detail, t.use_api, add_rc, out[:400] if add_rc else ""), flush=True)
    if add_rc != 0 and t.add_fault in ("none", "grandchild"):  # the plugins all succeeded
        stats["unexpected"].append("trial %d: ADD failed with fault %s: %s" %
                                   (t.n, t.add_fault, out[:300]))
    return add_rc


def between_add_and_del(node, t, rng, stats, add_rc):
    """The faults between ADD and DEL; returns the networks annotation DEL will see."""
    if t.use_api and not t.api_down_at_del:
        node.api.normal()
    if t.api_down_at_del:
        node.api.control({"mode": "500"})
    if t.gc_live:
        before = sorted(node.held_addresses())
        rc_gc, out_gc = node.run("GC", t.meta, gc_valid=[{"containerID": t.cid,
                                                          "ifname": "eth0"}])
        if rc_gc != 0 and t.add_fault != "disk full":
            stats["unexpected"].append("trial %d: GC (pod valid) failed: %s" % (t.n, out_gc[:300]))
        if add_rc == 0 and sorted(node.held_addresses()) != before:
            stats["unexpected"].append("trial %d: GC (pod valid) released the live pod's "
                                       "addresses: %s" % (t.n, before))
    if t.netns_deleted:
        node.del_netns(t.ns_name)
    if t.nad_edit:
        t.edit_nads(rng)
    selection = t.selection
    if t.annotation_edited:
        selection = [s for s in t.selection if rng.random() < 0.5]
        if t.use_api and not t.api_down_at_del:
            t.publish(selection)
    return selection


def runtime_del(node, t, selection):
    """The runtime's DEL with the faults still on (it may fail), maybe twice; then the faults
    clear and DEL is retried up to 3 times. Returns True when no DEL succeeded: wedged."""
    del_netns = "" if t.del_empty_netns else "/var/run/netns/" + t.ns_name
    meta = t.meta_for(selection, t.del_version)
    first = [node.run("DEL", meta, t.cid, del_netns, t.pod)[0] for _ in range(1 + t.del_twice)]
    node.unfill()
    if t.use_api:
        node.api.normal()
    if os.path.exists(t.armed):
        os.unlink(t.armed)
    return 0 not in first and not any(
        node.run("DEL", meta, t.cid, del_netns, t.pod)[0] == 0 for _ in range(3))


def leftovers(node, t):
    """Deletes the netns (as the runtime does after DEL), runs GC with an empty valid list,
    and returns what the pod left behind, by kind."""
    leaks = {}
    if not t.netns_deleted:
        left = node.pod_links(t.ns_name)
        if left:
            leaks["pod link"] = left
        node.del_netns(t.ns_name)
    rc, out = node.run("GC", t.meta, gc_valid=[])
    if rc != 0:
        leaks["GC failed"] = out[:300]
    if not wait_until(lambda: not node.processes(), 10):
        leaks["process"] = node.processes()
    if not wait_until(lambda: not node.node_links(), 10):  # veths go away asynchronously
        leaks["node link"] = node.node_links()
    for kind, found in (("address", node.held_addresses()), ("journal", node.live_journals())):
        if found:
            leaks[kind] = found
    for name, _ in t.nads:
        try:
            os.unlink(node.path("nads", name + ".json"))
        except FileNotFoundError:
            pass
    return leaks


def count_trial(stats, t):
    for key, on in (("netns deleted", t.netns_deleted), ("NAD edited", t.nad_edit == "edited"),
                    ("NAD deleted", t.nad_edit == "deleted"),
                    ("annotation edited", t.annotation_edited),
                    ("delegate DEL fails", t.del_fails), ("API down at DEL", t.api_down_at_del),
                    ("GC with pod valid", t.gc_live), ("DEL twice", t.del_twice),
                    ("DEL with empty netns", t.del_empty_netns),
                    ("DEL in cniVersion " + t.del_version, t.del_version != "1.1.0"),
                    ("in-tree macvlan", t.in_tree and any(
                        c.get("type") == "macvlan" for _, c in t.nads)),
                    ("pod from the API", t.use_api)):
        if on:
            stats["between"][key] = stats["between"].get(key, 0) + 1


def trial(node, rng, n, stats, use_api):
    t = Trial(node, rng, n, use_api)
    stats["faults"][t.add_fault] = stats["faults"].get(t.add_fault, 0) + 1
    add_rc = run_add(node, t, stats)
    selection = between_add_and_del(node, t, rng, stats, add_rc)
    wedged = runtime_del(node, t, selection)
    leaks = leftovers(node, t)
    count_trial(stats, t)
    stats["wedged"] += wedged
    stats["leaky"] += bool(leaks)
    for kind in leaks:
        stats["leaks"][kind] = stats["leaks"].get(kind, 0) + 1
    if wedged or leaks:
        print("trial %d: plan %s + %s, fault %s (%s), ADD rc %d: wedged=%s leaks=%s" %
              (n, t.meta["clusterNetwork"], [c["name"] for _, c in t.nads], t.add_fault,
               t.fault_detail, add_rc, wedged, json.dumps(leaks)),
              flush=True)
        node.reset()
    return not (wedged or leaks)


def self_check(node):
    """Proves the detectors see a leak: attaches a pod over every IPAM and link kind, and
    starts a process with the node's CNI_PATH, then expects each check to find something
    before the DEL; after the DEL, nothing. A campaign whose checks cannot fail proves nothing."""
    netns = node.add_netns(node.prefix + "sc")
    names = ("sc-br", "sc-mv")
    confs = ({"cniVersion": "1.0.0", "name": "fc-bridge-ho", "type": "bridge",
              "bridge": node.bridges[2], "ipam": node.ipam("host-local", "10.242.1.0/24")},
             {"cniVersion": "1.0.0", "name": "fc-macvlan-cn", "type": "macvlan",
              "master": node.uplink, "mode": "bridge",
              "ipam": node.ipam("cnimux-ipam", "10.242.2.0/24")})
    for name, conf in zip(names, confs):
        node.write("nads/%s.json" % name, {
            "apiVersion": "k8s.cni.cncf.io/v1", "kind": "NetworkAttachmentDefinition",
            "metadata": {"name": name, "namespace": "default"},
            "spec": {"config": json.dumps(conf)}})
    meta = dict(node.meta, clusterNetwork="fc-cluster-cx",
                capabilities={"io.kubernetes.cri.pod-annotations": True},
                runtimeConfig={"io.kubernetes.cri.pod-annotations": {
                    "k8s.v1.cni.cncf.io/networks": ",".join(names)}})
    cid = node.prefix + "-sc"
    rc, out = node.run("ADD", meta, cid, netns, "sc")
    if rc != 0:
        raise RuntimeError("self-check ADD failed: " + out)
    env = dict(os.environ, CNI_PATH=node.path("bin"))
    sleeper = subprocess.Popen(["sleep", "1000"], env=env)
    try:
        found = {"pod link": node.pod_links(node.prefix + "sc"), "node link": node.node_links(),
                 "address": node.held_addresses(), "journal": node.live_journals(),
                 "process": node.processes()}
    finally:
        sleeper.kill()
        sleeper.wait()
    blind = [k for k, v in found.items() if not v]
    held = [a for a in found["address"] if a.startswith("host-local")]
    if blind or not held or len(found["address"]) < 3:
        raise RuntimeError("self-check: the checks missed a live pod's %s (found %s)" %
                           (blind or ["host-local or SQLite address"], json.dumps(found)))
    rc, out = node.run("DEL", meta, cid, netns, "sc")
    node.del_netns(node.prefix + "sc")
    for name in names:
        os.unlink(node.path("nads", name + ".json"))
    left = (node.held_addresses() + node.live_journals() +
            (node.node_links() if not wait_until(lambda: not node.node_links(), 10) else []))
    if rc != 0 or left:
        raise RuntimeError("self-check DEL: rc %d, left %s: %s" % (rc, left, out))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build", required=True, help="the CMake build dir with plugin/cnimux")
    ap.add_argument("--trials", type=int, default=int(os.environ.get("SOAK_TRIALS", "500")))
    ap.add_argument("--seed", type=int,
                    default=int(os.environ.get("SOAK_SEED", str(int(time.time()) % 100000))))
    args = ap.parse_args()
    rng = random.Random(args.seed)
    prefix = "fc%04x" % (os.getpid() % 0x10000)
    stats = {"faults": {}, "between": {}, "leaks": {}, "leaky": 0, "wedged": 0, "add_ok": 0,
             "add_failed": 0, "unexpected": [], "add_failed_by": {}}
    started = time.monotonic()
    node = None

    def on_signal(signum, _frame):
        raise KeyboardInterrupt("signal %d" % signum)

    signal.signal(signal.SIGTERM, on_signal)
    try:
        node = Node(os.path.abspath(args.build), prefix)
        node.api = FakeApi(node.dir)
        self_check(node)
        print("seed %d, %d trials, prefix %s; the self-check saw a live pod's links, addresses, "
              "journal and process" % (args.seed, args.trials, prefix), flush=True)
        for n in range(args.trials):
            trial(node, rng, n, stats, use_api=rng.random() < 0.35)
    finally:
        if node:
            node.cleanup()
    elapsed = time.monotonic() - started
    for line in stats["unexpected"]:
        print(line)
    print()
    print("| seed | trials | ADD succeeded | ADD failed | leaky trials | wedged pods "
          "| other unexpected outcomes | seconds |")
    print("|---|---|---|---|---|---|---|---|")
    print("| %d | %d | %d | %d | %d | %d | %d | %.0f |" %
          (args.seed, args.trials, stats["add_ok"], stats["add_failed"], stats["leaky"],
           stats["wedged"], len(stats["unexpected"]), elapsed))
    print()
    print("| fault at ADD | trials | of them, ADD failed |")
    print("|---|---|---|")
    for kind, _ in ADD_FAULTS:
        print("| %s | %d | %d |" % (kind, stats["faults"].get(kind, 0),
                                    stats["add_failed_by"].get(kind, 0)))
    print()
    print("| between ADD and DEL, and the runtime's DEL | trials |")
    print("|---|---|")
    for kind, count in sorted(stats["between"].items()):
        print("| %s | %d |" % (kind, count))
    if stats["leaks"]:
        print("leaks by kind: " + ", ".join("%s %d" % kv for kv in sorted(stats["leaks"].items())))
    print("replay: SOAK_SEED=%d SOAK_TRIALS=%d %s --build %s" %
          (args.seed, args.trials, sys.argv[0], args.build))
    return 1 if stats["leaky"] or stats["wedged"] or stats["unexpected"] else 0


if __name__ == "__main__":
    sys.exit(main())
