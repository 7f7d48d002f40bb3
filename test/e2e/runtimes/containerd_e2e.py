#!/usr/bin/python3
# containerd through CRI, the path kubelet takes: a private containerd (temporary root, state and
# socket, its own network namespace) whose only conflist is cnimux's, driven by a minimal CRI
# client. Exit 0 pass, 1 fail, 77 skip (containerd itself cannot start here).
"""Usage: containerd_e2e.py --build DIR --pause BINARY"""

import argparse
import concurrent.futures
import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from runtime_node import (SKIP, Failure, Node, add_netns, addresses_in, expect,  # noqa: E402
                          kill_processes_mentioning, links_in, log, remove_cgroups,
                          remove_netns_file, run_main, sh, unmount_under, wait_until)

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
PAUSE_IMAGE = "localhost/cnimux-e2e-pause:latest"
NETWORKS = "k8s.v1.cni.cncf.io/networks"
CAP = "io.kubernetes.cri.pod-annotations"
# Until the lead's DEL tombstone (plugin/journal.*) lands, a second DEL that still works is
# reported as a skip of that one check; set True once it has landed.
TOMBSTONE_REQUIRED = True


def oci_image_tar(pause_binary):
    """An OCI image layout (tar bytes) with /pause as its entrypoint."""
    layer = io.BytesIO()
    with tarfile.open(fileobj=layer, mode="w") as t:
        info = t.gettarinfo(pause_binary, arcname="pause")
        info.uid = info.gid = 0
        info.mode = 0o755
        with open(pause_binary, "rb") as f:
            t.addfile(info, f)
    layer = layer.getvalue()
    blobs = {}

    def blob(data):
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        blobs[digest] = data
        return {"digest": digest, "size": len(data)}

    config = json.dumps({"architecture": "amd64", "os": "linux",
                         "config": {"Entrypoint": ["/pause"]},
                         "rootfs": {"type": "layers", "diff_ids": [blob(layer)["digest"]]}}).encode()
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": dict(blob(config), mediaType="application/vnd.oci.image.config.v1+json"),
        "layers": [dict(blob(layer), mediaType="application/vnd.oci.image.layer.v1.tar")]}).encode()
    index = json.dumps({"schemaVersion": 2, "manifests": [dict(
        blob(manifest), mediaType="application/vnd.oci.image.manifest.v1+json",
        annotations={"io.containerd.image.name": PAUSE_IMAGE,
                     "org.opencontainers.image.ref.name": "latest"})]}).encode()
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as t:
        files = {"oci-layout": b'{"imageLayoutVersion":"1.0.0"}', "index.json": index}
        files.update({"blobs/sha256/" + d.split(":")[1]: b for d, b in blobs.items()})
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
    return out.getvalue()


def cri_stubs(node):
    """Compiles cri_v1.proto into the node dir and imports it."""
    out = node.path("cri")
    os.makedirs(out)
    sh(["/usr/bin/python3", "-m", "grpc_tools.protoc", "-I", HERE, "--python_out=" + out,
        "--grpc_python_out=" + out, "cri_v1.proto"])
    sys.path.insert(0, out)
    import cri_v1_pb2
    import cri_v1_pb2_grpc
    return cri_v1_pb2, cri_v1_pb2_grpc


class Containerd:
    """A private containerd in the node's netns; killed, unmounted and removed on cleanup."""

    def __init__(self, node, netns, cgroup):
        self.node, self.netns, self.cgroup = node, netns, cgroup
        self.sock = node.path("containerd.sock")
        self.proc = None
        self.pod_netns = set()
        cfg = node.path("containerd.toml")
        Node.write(cfg, """version = 2
root = "%s"
state = "%s"
[grpc]
  address = "%s"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "%s"
  restrict_oom_score_adj = true
  # Pod netns under our state dir, not /run/netns: cleanup finds every one, even after a crash.
  netns_mounts_under_state_dir = true
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "%s"
    conf_dir = "%s"
    max_conf_num = 1
""" % (node.path("root"), node.path("state"), self.sock, PAUSE_IMAGE, node.path("bin"),
       node.path("net.d")))
        self.cfg = cfg
        node.on_cleanup(self.teardown)

    def start(self):
        errlog = open(self.node.path("containerd.log"), "a")
        self.proc = subprocess.Popen(
            ["nsenter", "--net=/run/netns/" + self.netns, "containerd", "--config", self.cfg],
            stdout=errlog, stderr=errlog, start_new_session=True)
        try:
            wait_until(lambda: os.path.exists(self.sock) or self.proc.poll() is not None,
                       "containerd socket", 20)
        except Failure:
            pass
        if self.proc.poll() is not None or not os.path.exists(self.sock):
            return False
        return True

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None
        if os.path.exists(self.sock):
            os.remove(self.sock)

    def restart(self):
        self.stop()
        if not self.start():
            raise Failure("containerd did not restart: " + self.tail_log())

    def ctr(self, *args, **kw):
        return sh(["ctr", "--address", self.sock, "-n", "k8s.io"] + list(args), **kw)

    def tail_log(self):
        try:
            with open(self.node.path("containerd.log")) as f:
                return f.read()[-3000:]
        except OSError:
            return ""

    def teardown(self):
        self.stop()
        # Shims and pause processes carry our unique socket or root path on their command line.
        kill_processes_mentioning(self.node.dir)
        unmount_under(self.node.dir)
        for path in self.pod_netns:
            remove_netns_file(path)
        remove_cgroups(self.cgroup)


class Scenario:
    def __init__(self, build, pause):
        self.tag = "cxcd%d" % os.getpid()
        self.node = Node(build, self.tag)
        self.netns = self.tag + "n"
        self.bridge = self.tag + "br"
        self.uplink = self.tag + "u"
        self.pause = pause
        self.api = None

    # ---- setup ----

    def setup(self):
        node = self.node
        add_netns(node, self.netns)
        sh(["ip", "-n", self.netns, "link", "add", self.uplink, "type", "veth", "peer", "name",
            self.tag + "p"])
        for link in (self.uplink, self.tag + "p"):
            sh(["ip", "-n", self.netns, "link", "set", link, "up"])
        node.write_cluster_network(self.bridge, "10.251.0.0/24")
        self.nad_configs = {"mv1": node.macvlan(self.uplink, "10.252.0.0/24"),
                            "mv2": node.macvlan(self.uplink, "10.253.0.0/24"),
                            # Fails its ADD; its DEL succeeds, so the rollback can finish.
                            "broken": {"cniVersion": "1.0.0", "type": "cnimux-fake-delegate",
                                       "fake": {"add": "error", "code": 11,
                                                "msg": "injected failure " + self.tag}}}
        for name, conf in self.nad_configs.items():
            node.write_nad("default", name, conf)
        node.write_meta_conflist(node.meta(capabilities={CAP: True}))
        self.pb, grpc_mod = cri_stubs(node)
        self.containerd = Containerd(node, self.netns, self.tag)
        if not self.containerd.start():
            log("SKIP: containerd cannot start on this machine: " + self.containerd.tail_log())
            sys.exit(SKIP)
        image = node.path("pause.tar")
        with open(image, "wb") as f:
            f.write(oci_image_tar(self.pause))
        self.containerd.ctr("images", "import", image)
        self.grpc_mod = grpc_mod
        self.connect()

    def connect(self):
        import grpc
        if getattr(self, "channel", None):
            self.channel.close()
        self.channel = grpc.insecure_channel("unix://" + self.containerd.sock)
        self.cri = self.grpc_mod.RuntimeServiceStub(self.channel)

    def start_fake_api(self):
        """The fake API server inside the node netns (cnimux runs there), plain HTTP."""
        d = self.node.path("api")
        os.makedirs(d)
        proc = subprocess.Popen(
            ["ip", "netns", "exec", self.netns, "/usr/bin/python3",
             os.path.join(SOURCE, "test/fakes/kube_api/fake_kube_api.py"), "--port-file",
             d + "/port", "--log-file", d + "/requests.jsonl", "--token", "tok-" + self.tag,
             "--fixtures", d + "/fixtures.json"], start_new_session=True)
        self.node.on_cleanup(lambda: (proc.kill(), proc.wait()))
        return proc, d

    # ---- CRI ----

    def run_pod(self, name, annotations, ns="default"):
        cfg = self.pb.PodSandboxConfig(
            metadata=self.pb.PodSandboxMetadata(name=name, namespace=ns, uid="uid-" + name),
            hostname=name, annotations=annotations,
            linux=self.pb.LinuxPodSandboxConfig(cgroup_parent="/" + self.tag + "/" + name))
        sid = self.cri.RunPodSandbox(self.pb.RunPodSandboxRequest(config=cfg), timeout=120).pod_sandbox_id
        netns = self.pod_netns(sid)
        self.containerd.pod_netns.add(netns)
        return sid, netns

    def pod_netns(self, sid):
        st = self.cri.PodSandboxStatus(self.pb.PodSandboxStatusRequest(pod_sandbox_id=sid, verbose=True))
        spec = json.loads(st.info["info"])["runtimeSpec"]
        return [n["path"] for n in spec["linux"]["namespaces"] if n["type"] == "network"][0]

    def pod_ip(self, sid):
        st = self.cri.PodSandboxStatus(self.pb.PodSandboxStatusRequest(pod_sandbox_id=sid))
        return st.status.network.ip

    def stop_remove(self, sid):
        self.cri.StopPodSandbox(self.pb.StopPodSandboxRequest(pod_sandbox_id=sid), timeout=120)
        self.cri.RemovePodSandbox(self.pb.RemovePodSandboxRequest(pod_sandbox_id=sid), timeout=120)

    # ---- checks ----

    def expect_three_networks(self, sid, netns):
        expect(links_in(netns) == ["eth0", "net1", "net2"], "links: %s" % links_in(netns))
        for ifname, prefix in (("eth0", "10.251.0."), ("net1", "10.252.0."), ("net2", "10.253.0.")):
            addrs = addresses_in(netns, ifname)
            expect(len(addrs) == 1 and addrs[0].startswith(prefix), "%s: %s" % (ifname, addrs))
        expect(self.pod_ip(sid) == addresses_in(netns, "eth0")[0].split("/")[0],
               "CRI pod IP %s is not eth0's" % self.pod_ip(sid))
        held = sorted((n, i) for n, c, i in self.node.held_addresses() if c == sid)
        expect(held == [("cluster", "eth0"), ("mv1", "net1"), ("mv2", "net2")], "IPAM: %s" % held)

    def expect_nothing_left(self):
        node = self.node
        expect(node.held_addresses() == [], "IPAM still holds %s" % node.held_addresses())
        expect(node.container_files() == [], "journal dir holds %s" % node.container_files())
        ports = sh(["ip", "-n", self.netns, "-o", "link", "show", "master", self.bridge], check=False)
        expect(ports.strip() == "", "bridge ports left: " + ports)
        extra = set(links_in("/run/netns/" + self.netns)) - {self.uplink, self.tag + "p", self.bridge}
        expect(not extra, "links left in the node netns: %s" % sorted(extra))

    def check_second_del_does_nothing(self, sid, api_requests_before=None, api_log=None):
        """Stop then Remove: the first DEL releases everything, the second runs no delegate and
        makes no API request."""
        runs_before = self.node.delegate_runs(sid, "DEL")
        self.stop_remove(sid)
        runs = self.node.delegate_runs(sid, "DEL") - runs_before
        new_requests = []
        if api_log:
            with open(api_log) as f:
                new_requests = [json.loads(l) for l in f if l.strip()][api_requests_before:]
        log("Stop+Remove: %d delegate DELs (3 attachments), %d API requests" % (runs, len(new_requests)))
        ok = runs == 3 and not new_requests
        if not ok:
            msg = ("second DEL did work: %d delegate DELs for 3 attachments, API requests %s" %
                   (runs, [(r["method"], r["path"]) for r in new_requests]))
            if TOMBSTONE_REQUIRED:
                raise Failure(msg)
            log("EXPECTED FAILURE until the DEL tombstone lands (issue 10): " + msg)
            self.tombstone_pending = True

    # ---- scenarios ----

    def nad_dir_pods(self):
        sid, netns = self.run_pod("web", {NETWORKS: "mv1,mv2"})
        self.expect_three_networks(sid, netns)
        self.check_second_del_does_nothing(sid)
        self.expect_nothing_left()
        log("ok: eth0+net1+net2 from nadDir; Stop+Remove released everything")

    def failing_network(self):
        try:
            self.run_pod("bad", {NETWORKS: "mv1,broken"})
        except Exception as e:  # grpc.RpcError
            text = str(e)
            expect("default/broken" in text and "net2" in text and "injected failure " + self.tag in text,
                   "error lacks cnimux's words: " + text)
        else:
            raise Failure("RunPodSandbox with a failing network succeeded")
        self.expect_nothing_left()
        log("ok: a failing network fails RunPodSandbox and leaves nothing")

    def concurrent_pods(self, n=20):
        def one(i):
            return self.run_pod("p%d" % i, {NETWORKS: "mv1"})
        with concurrent.futures.ThreadPoolExecutor(n) as pool:
            pods = list(pool.map(one, range(n)))
        addrs = []
        for sid, netns in pods:
            expect(links_in(netns) == ["eth0", "net1"], "links: %s" % links_in(netns))
            addrs += addresses_in(netns, "eth0") + addresses_in(netns, "net1")
        expect(len(addrs) == 2 * n and len(set(addrs)) == 2 * n, "duplicate addresses: %s" % addrs)
        with concurrent.futures.ThreadPoolExecutor(n) as pool:
            list(pool.map(lambda p: self.stop_remove(p[0]), pods))
        self.expect_nothing_left()
        log("ok: %d concurrent sandboxes, %d distinct addresses, nothing left" % (n, len(addrs)))

    def api_pods(self):
        """NADs from the fake API; the pod's annotations from the capability, never a pod GET."""
        node = self.node
        proc, d = self.start_fake_api()
        pod = {"apiVersion": "v1", "kind": "Pod",
               "metadata": {"name": "api-web", "namespace": "default", "uid": "uid-api-web",
                            "annotations": {NETWORKS: "mv1,mv2"}}}
        nads = [node.nad_object("default", n, self.nad_configs[n]) for n in ("mv1", "mv2")]
        Node.write(d + "/fixtures.json", {"pods": [pod], "nads": nads})
        port = wait_until(lambda: os.path.exists(d + "/port") and open(d + "/port").read().strip(),
                          "fake API port", 20)
        Node.write(d + "/kubeconfig", """apiVersion: v1
kind: Config
current-context: fake
clusters:
- name: fake
  cluster:
    server: http://127.0.0.1:%s
users:
- name: fake
  user:
    token: tok-%s
contexts:
- name: fake
  context: {cluster: fake, user: fake}
""" % (port, self.tag))
        node.write_meta_conflist(node.meta(capabilities={CAP: True}, kubeconfig=d + "/kubeconfig",
                                           nadDir=""))
        self.containerd.restart()  # it does not pick up a changed conflist by itself
        self.connect()
        sid, netns = self.run_pod("api-web", {NETWORKS: "mv1,mv2"})
        self.expect_three_networks(sid, netns)
        with open(d + "/requests.jsonl") as f:
            reqs = [json.loads(l) for l in f if l.strip()]
        gets = [r["path"] for r in reqs if r["method"] == "GET"]
        expect(not any("/pods/" in p for p in gets), "cnimux read the pod from the API: %s" % gets)
        expect(any(p.endswith("/network-attachment-definitions/mv1") for p in gets), "NADs: %s" % gets)
        patches = [r for r in reqs if r["method"] == "PATCH"]
        expect(len(patches) == 1 and "network-status" in patches[0]["body"], "PATCH: %s" % patches)
        self.check_second_del_does_nothing(sid, len(reqs), d + "/requests.jsonl")
        self.expect_nothing_left()
        log("ok: NADs from the API, pod from the capability (no pod GET), one status PATCH")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--build", required=True)
    p.add_argument("--pause", required=True)
    args = p.parse_args()
    if os.geteuid() != 0:
        log("SKIP: needs root")
        sys.exit(SKIP)
    s = Scenario(args.build, args.pause)
    s.tombstone_pending = False
    try:
        def body():
            s.setup()
            s.failing_network()
            s.nad_dir_pods()
            s.concurrent_pods()
            s.api_pods()
        run_main(body, s.node)
    finally:
        s.node.cleanup()
    if s.tombstone_pending:
        log("SKIP: all else passed; the second-DEL check waits for the DEL tombstone")
        sys.exit(SKIP)


if __name__ == "__main__":
    main()
