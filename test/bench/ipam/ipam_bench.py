#!/usr/bin/env python3
# ADD+DEL latency of cnimux-ipam versus the reference host-local with N addresses already held
# in a /14 pool. Samples of all configurations are interleaved, so load from other processes
# on a shared machine hits every column alike. Prints a markdown table on stdout.
import argparse
import ipaddress
import json
import os
import statistics
import subprocess
import sys
import time

SUBNET = "10.64.0.0/14"
FIRST_HELD = ipaddress.ip_address("10.64.0.2")


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def write_json(path, obj):
    with open(path, "w") as f:
        json.dump(obj, f)


def prefill_cnimux(args, work, held):
    """Holds `held` addresses through the library API, in one transaction."""
    conf = os.path.join(work, f"cnimux-{held}.json")
    write_json(conf, {
        "cniVersion": "1.0.0", "name": "bench", "type": "cnimux-ipam",
        "ipam": {"type": "cnimux-ipam", "ranges": [[{"subnet": SUBNET}]],
                 "store": {"path": os.path.join(work, f"cnimux-{held}", "ipam.db")}}})
    subprocess.run([args.fill, "--config", conf, "--count", str(held)], check=True)
    return conf


def prefill_host_local(work, held):
    """Writes host-local's own format: <dataDir>/<net>/<ip> = "id\\r\\nifname"."""
    data_dir = os.path.join(work, f"host-local-{held}")
    net_dir = os.path.join(data_dir, "bench")
    os.makedirs(net_dir)
    for i in range(held):
        with open(os.path.join(net_dir, str(FIRST_HELD + i)), "w") as f:
            f.write(f"fill-{i}\r\neth0")
    with open(os.path.join(net_dir, "last_reserved_ip.0"), "w") as f:
        f.write(str(FIRST_HELD + held - 1))
    conf = os.path.join(work, f"host-local-{held}.json")
    write_json(conf, {
        "cniVersion": "1.0.0", "name": "bench", "type": "host-local",
        "ipam": {"type": "host-local", "ranges": [[{"subnet": SUBNET}]], "dataDir": data_dir}})
    return conf


class Config:
    def __init__(self, plugin, binary, held, conf, samples):
        self.plugin, self.binary, self.held, self.conf = plugin, binary, held, conf
        self.samples = samples
        self.times_ms = []


def run_verb(binary, conf, verb, env, devnull):
    """One exec of the plugin with the config on stdin; returns its exit status."""
    fd = os.open(conf, os.O_RDONLY)
    try:
        pid = os.posix_spawn(binary, [binary], dict(env, CNI_COMMAND=verb), file_actions=[
            (os.POSIX_SPAWN_DUP2, fd, 0), (os.POSIX_SPAWN_DUP2, devnull, 1),
            (os.POSIX_SPAWN_DUP2, devnull, 2)])
    finally:
        os.close(fd)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


def add_del_ms(cfg, env, devnull):
    start = time.perf_counter_ns()
    rc_add = run_verb(cfg.binary, cfg.conf, "ADD", env, devnull)
    rc_del = run_verb(cfg.binary, cfg.conf, "DEL", env, devnull)
    elapsed = (time.perf_counter_ns() - start) / 1e6
    if rc_add != 0 or rc_del != 0:
        out = subprocess.run([cfg.binary], stdin=open(cfg.conf), capture_output=True, text=True,
                             env=dict(env, CNI_COMMAND="ADD"))
        sys.exit(f"{cfg.plugin} at {cfg.held} held failed: {out.stdout} {out.stderr}")
    return elapsed


def samples_for(plugin, held, base):
    if plugin == "cnimux-ipam" or held <= 1000:
        return base
    return max(8, base // 2) if held <= 20000 else max(6, base // 5)


def measure(configs, warmup):
    env = dict(os.environ, CNI_CONTAINERID="bench-probe", CNI_NETNS="/var/run/netns/bench-probe",
               CNI_IFNAME="eth0", CNI_PATH="/usr/lib/cni")
    devnull = os.open(os.devnull, os.O_WRONLY)
    for cfg in configs:
        for _ in range(warmup):
            add_del_ms(cfg, env, devnull)
    rounds = 0
    while any(len(c.times_ms) < c.samples for c in configs):
        for cfg in configs:
            if len(cfg.times_ms) < cfg.samples:
                cfg.times_ms.append(add_del_ms(cfg, env, devnull))
        rounds += 1
        if rounds % 10 == 0:
            log(f"  round {rounds}")
    os.close(devnull)


def table(configs, counts):
    med = {(c.plugin, c.held): statistics.median(c.times_ms) for c in configs}
    n = {(c.plugin, c.held): len(c.times_ms) for c in configs}
    lines = ["| addresses held | cnimux-ipam ADD+DEL | host-local ADD+DEL | host-local / cnimux-ipam |",
             "|---:|---:|---:|---:|"]
    for held in counts:
        c, h = med[("cnimux-ipam", held)], med[("host-local", held)]
        lines.append(f"| {held:,} | {c:.2f} ms (n={n[('cnimux-ipam', held)]}) | "
                     f"{h:.2f} ms (n={n[('host-local', held)]}) | {h / c:.1f}x |")
    first, last = counts[0], counts[-1]
    lines.append("")
    lines.append(f"Medians. cnimux-ipam at {last:,} held / at {first:,} held: "
                 f"{med[('cnimux-ipam', last)] / med[('cnimux-ipam', first)]:.2f}x.")
    return "\n".join(lines)


def main():
    p = argparse.ArgumentParser(description="ADD+DEL latency: cnimux-ipam vs host-local")
    p.add_argument("--ipam", required=True, help="the cnimux-ipam binary")
    p.add_argument("--fill", required=True, help="the cnimux-ipam-bench-fill binary")
    p.add_argument("--host-local", default="/usr/lib/cni/host-local")
    p.add_argument("--work", required=True, help="an empty scratch directory")
    p.add_argument("--counts", default="100,10000,60000")
    p.add_argument("--samples", type=int, default=60, help="samples per cnimux-ipam column")
    p.add_argument("--warmup", type=int, default=3)
    args = p.parse_args()
    counts = [int(c) for c in args.counts.split(",")]
    configs = []
    for held in counts:
        log(f"pre-filling {held:,} held addresses")
        configs.append(Config("cnimux-ipam", args.ipam, held, prefill_cnimux(args, args.work, held),
                              samples_for("cnimux-ipam", held, args.samples)))
        configs.append(Config("host-local", args.host_local, held,
                              prefill_host_local(args.work, held),
                              samples_for("host-local", held, args.samples)))
    log("measuring ADD+DEL, all configurations interleaved")
    measure(configs, args.warmup)
    print(table(configs, counts))


if __name__ == "__main__":
    main()
