#!/usr/bin/python3
# podman with its CNI backend and a conflist of type cnimux, as a podman user runs it: temporary
# containers.conf, storage and config dir; a busybox image from `podman import`; pods described
# in podDir by container name (podman sends no namespace). Exit 0 pass, 1 fail, 77 skip
# (podman itself cannot run a container here).
"""Usage: podman_e2e.py --build DIR"""

import argparse
import concurrent.futures
import os
import subprocess
import sys
import tarfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from runtime_node import (SKIP, Failure, Node, expect, kill_processes_mentioning,  # noqa: E402
                          log, remove_cgroups, run_main, sh, unmount_under)

NETWORKS = "k8s.v1.cni.cncf.io/networks"


class Podman:
    def __init__(self, node, tag):
        self.node, self.tag = node, tag
        self.image = "localhost/%s-busybox:latest" % tag
        conf, storage = node.path("containers.conf"), node.path("storage.conf")
        Node.write(conf, """[containers]
default_ulimits = ["nofile=1024:20000", "nproc=4096:32768"]
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "none"
tmp_dir = "%s"
[network]
network_backend = "cni"
cni_plugin_dirs = ["%s"]
network_config_dir = "%s"
""" % (node.path("libpod-tmp"), node.path("bin"), node.path("net.d")))
        Node.write(storage, """[storage]
driver = "vfs"
graphroot = "%s"
runroot = "%s"
""" % (node.path("storage"), node.path("run")))
        self.env = dict(os.environ, CONTAINERS_CONF=conf, CONTAINERS_STORAGE_CONF=storage)
        self.env.pop("CNI_ARGS", None)  # podman appends the caller's CNI_ARGS to its own
        node.on_cleanup(self.teardown)

    def run(self, *args, check=True):
        p = subprocess.run(["podman"] + list(args), env=self.env, text=True,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120)
        if check and p.returncode != 0:
            raise Failure("podman %s failed (%d): %s%s" % (" ".join(args), p.returncode, p.stdout, p.stderr))
        return p

    def import_busybox(self):
        root = self.node.path("rootfs")
        os.makedirs(root + "/bin")
        for d in ("proc", "sys", "dev", "etc", "tmp"):
            os.makedirs(os.path.join(root, d))
        sh(["cp", "/bin/busybox", root + "/bin/busybox"])
        for applet in sh(["/bin/busybox", "--list"]).split():
            if applet != "busybox" and not os.path.exists(root + "/bin/" + applet):
                os.symlink("busybox", root + "/bin/" + applet)
        tar = self.node.path("rootfs.tar")
        with tarfile.open(tar, "w") as t:
            t.add(root, arcname=".")
        self.run("import", "--change", 'CMD ["/bin/sleep","1000000"]', tar, self.image)

    def teardown(self):
        self.run("rm", "-a", "-f", "-t", "0", check=False)
        kill_processes_mentioning(self.node.dir)  # conmon and friends carry our paths
        unmount_under(self.node.dir)
        remove_cgroups(self.tag)


class Scenario:
    def __init__(self, build):
        self.tag = "cxpm%d" % os.getpid()
        self.node = Node(build, self.tag)
        self.net = self.tag + "net"
        self.bridge = self.tag + "br"
        self.uplink = self.tag + "u"

    def setup(self):
        node = self.node
        sh(["ip", "link", "add", self.uplink, "type", "veth", "peer", "name", self.tag + "p"])
        node.on_cleanup(lambda: sh(["ip", "link", "delete", self.uplink], check=False))
        node.on_cleanup(lambda: sh(["ip", "link", "delete", self.bridge], check=False))
        for link in (self.uplink, self.tag + "p"):
            sh(["ip", "link", "set", link, "up"])
        # No gateway and no default route: the host gets no address and no ip_forward change.
        node.write(node.path("cnimux.d", "cluster.conflist"), {
            "cniVersion": "1.0.0", "name": "cluster",
            "plugins": [{"type": "bridge", "bridge": self.bridge, "ipam": node.ipam("10.61.0.0/24")}]})
        node.write_nad("default", "mv1", node.macvlan(self.uplink, "10.62.0.0/24"))
        node.write_nad("default", "mv2", node.macvlan(self.uplink, "10.63.0.0/24"))
        # The podDir convention: podman's K8S_POD_NAME is the container name, in
        # defaultPodNamespace.
        node.write_meta_conflist(node.meta(), name=self.net)
        self.podman = Podman(node, self.tag)
        self.podman.import_busybox()
        probe = self.podman.run("run", "--rm", "--network", "none", self.podman.image, "true", check=False)
        if probe.returncode != 0:
            log("SKIP: podman cannot run a container on this machine: " + probe.stderr)
            sys.exit(SKIP)

    def pod(self, name, networks):
        self.node.write(self.node.path("pods", name + ".json"), {
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "annotations": {NETWORKS: networks}}})

    def start(self, name, *opts):
        self.podman.run("run", "-d", "--name", name, "--network", self.net,
                        "--cgroup-parent", "/%s/%s" % (self.tag, name), *opts, self.podman.image)

    def interfaces(self, name):
        """{ifname: (mac, [cidr...])} from `ip` inside the container."""
        out = self.podman.run("exec", name, "ip", "-o", "addr").stdout
        links = self.podman.run("exec", name, "ip", "-o", "link").stdout
        result = {}
        for line in links.splitlines():
            parts = line.split()
            ifname = parts[1].rstrip(":").split("@")[0]
            if ifname != "lo":
                result[ifname] = (parts[parts.index("link/ether") + 1], [])
        for line in out.splitlines():
            parts = line.split()
            if parts[2] == "inet" and parts[1] in result:
                result[parts[1]][1].append(parts[3])
        return result

    def expect_nothing_left(self):
        node = self.node
        expect(node.held_addresses() == [], "IPAM still holds %s" % node.held_addresses())
        expect(node.container_files() == [], "journal dir holds %s" % node.container_files())
        ports = sh(["ip", "-o", "link", "show", "master", self.bridge], check=False)
        expect(ports.strip() == "", "bridge ports left: " + ports)

    def expect_three(self, name, ip=None, mac=None):
        ifs = self.interfaces(name)
        expect(sorted(ifs) == ["eth0", "net1", "net2"], "%s has %s" % (name, sorted(ifs)))
        for ifname, prefix in (("eth0", "10.61.0."), ("net1", "10.62.0."), ("net2", "10.63.0.")):
            addrs = ifs[ifname][1]
            expect(len(addrs) == 1 and addrs[0].startswith(prefix), "%s %s: %s" % (name, ifname, addrs))
        if ip:
            expect(ifs["eth0"][1] == [ip + "/24"], "eth0 %s, asked for %s" % (ifs["eth0"][1], ip))
        if mac:
            expect(ifs["eth0"][0] == mac, "eth0 MAC %s, asked for %s" % (ifs["eth0"][0], mac))
            expect(ifs["net1"][0] != mac and ifs["net2"][0] != mac, "the --mac-address leaked: %s" % ifs)
        return ifs

    def static_address_and_lifecycle(self):
        ip, mac = "10.61.0.77", "0a:58:0a:3d:00:4d"
        self.pod("web", "mv1,mv2")
        self.start("web", "--ip", ip, "--mac-address", mac)
        self.expect_three("web", ip, mac)
        log("ok: --ip and --mac-address on eth0 only; net1, net2 from their NADs")

        self.podman.run("network", "reload", "web")
        self.expect_three("web", ip, mac)
        log("ok: podman network reload keeps all three networks")

        self.podman.run("stop", "-t", "0", "web")
        self.expect_nothing_left()
        self.podman.run("start", "web")
        self.expect_three("web", ip, mac)
        log("ok: stop releases everything, start brings back all networks")

        self.podman.run("rm", "-f", "-t", "0", "web")
        self.expect_nothing_left()
        log("ok: rm releases everything")

    def concurrent(self, n=5):
        names = ["c%d" % i for i in range(n)]
        for name in names:
            self.pod(name, "mv1")
        with concurrent.futures.ThreadPoolExecutor(n) as pool:
            list(pool.map(self.start, names))
        addrs = []
        for name in names:
            ifs = self.interfaces(name)
            expect(sorted(ifs) == ["eth0", "net1"], "%s has %s" % (name, sorted(ifs)))
            addrs += ifs["eth0"][1] + ifs["net1"][1]
        expect(len(addrs) == 2 * n and len(set(addrs)) == 2 * n, "duplicate addresses: %s" % addrs)
        with concurrent.futures.ThreadPoolExecutor(n) as pool:
            list(pool.map(lambda c: self.podman.run("rm", "-f", "-t", "0", c), names))
        self.expect_nothing_left()
        log("ok: %d concurrent containers, %d distinct addresses, nothing left" % (n, len(addrs)))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--build", required=True)
    args = p.parse_args()
    if os.geteuid() != 0:
        log("SKIP: needs root")
        sys.exit(SKIP)
    s = Scenario(args.build)
    try:
        def body():
            s.setup()
            s.static_address_and_lifecycle()
            s.concurrent()
        run_main(body, s.node)
    finally:
        s.node.cleanup()


if __name__ == "__main__":
    main()
