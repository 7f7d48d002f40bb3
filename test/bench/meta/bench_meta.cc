// cnimux-bench-meta: ADD and DEL of a pod through cnimux versus calling its delegates
// directly (bridge; bridge + macvlan + macvlan), with the same IPAM, printed as markdown; and
// through cnimux-bench-floor (floor_meta.c), a meta plugin doing only the unavoidable work.
// --in-tree: the bridge + 2 macvlan pod three ways (direct; cnimux executing the reference
// macvlan; cnimux with inTree ["macvlan"]), for issue 7's in-process delegates table.
#include <sched.h>
#include <signal.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <cstdio>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "test/bench/meta/background_load.h"
#include "test/bench/meta/bench_node.h"
#include "test/bench/meta/timed_run.h"

namespace bench {
namespace {

using nlohmann::json;

std::atomic<bool> g_stop{false};

void check_stop() {
  if (g_stop) throw std::runtime_error("interrupted");
}

struct Options {
  std::string build_dir = "build-bench";
  std::string plugins_dir = "/usr/lib/cni";
  int iterations = 100;
  int warmup = 5;
  int rss_runs = 10;
  int version_runs = 50;
  // The second column: every sample is taken again at SCHED_FIFO with this priority (0: no
  // such column). The headline is normal priority, as runtimes run plugins.
  int rt_priority = 10;
  bool loaded = false;   // run under BackgroundLoad
  bool memory = true;    // the peak RSS and VERSION table
  bool in_tree = false;  // the three-way in-tree table instead of the meta-plugin tables
  int phases = 0;        // > 0: only the stage timeline, over this many ADD+DEL per pod
};

struct Attachment {
  std::string ifname;
  json conf;
};

// Per measured iteration: wall and CPU milliseconds of the ADD and of the DEL.
struct Samples {
  std::vector<double> add, del, add_cpu, del_cpu;
  void push(double a, double d, double a_cpu, double d_cpu) {
    add.push_back(a);
    del.push_back(d);
    add_cpu.push_back(a_cpu);
    del_cpu.push_back(d_cpu);
  }
};

// What one verb of one call printed, checked: a failure ends the benchmark loudly.
Measurement checked(const std::string& what, const Invocation& inv, bool trace = false) {
  check_stop();
  Measurement m = run_timed(inv, trace);
  if (m.exit_code != 0) {
    throw std::runtime_error(what + " failed (exit " + std::to_string(m.exit_code) + "): " + m.out +
                             " " + m.err);
  }
  return m;
}

// One traced call: each mark's time after the fork, named "<mark>" or "<mark> #<n>" for the
// n-th of a repeated mark (one per delegate), then "exit" and "reaped".
using Timeline = std::vector<std::pair<std::string, double>>;

// Reads the marks the traced call appended to `file` (cni/phase_trace.cc's format) and
// empties the file for the next call.
Timeline read_timeline(const std::string& file, const Measurement& m) {
  Timeline t;
  std::map<std::string, int> seen;
  std::ifstream in(file);
  std::string name;
  double at = 0;
  while (in >> name && name != "--" && in >> at) {
    const int n = ++seen[name];
    t.emplace_back(n == 1 ? name : name + " #" + std::to_string(n), at - m.start_ms);
  }
  std::ofstream(file, std::ios::trunc);
  t.emplace_back("reaped", m.wall_ms);
  return t;
}

// One pod: its attachments in order, and the annotations containerd would pass cnimux.
class Scenario {
 public:
  Scenario(std::string label, const BenchNode& node, std::vector<Attachment> attachments,
           json annotations)
      : label_(std::move(label)),
        node_(node),
        attachments_(std::move(attachments)),
        annotations_(std::move(annotations)) {
    // The floor's stdin: its journal and bin directories, then each delegate's config file.
    floor_plan_ = "cniDir " + node_.dir() + "/floor-journal\nbinDir " + node_.dir() + "/bin\n";
    for (const auto& a : attachments_) {
      floor_plan_ += a.ifname + " " + a.conf.at("type").get<std::string>() + " " +
                     node_.floor_conf(a.ifname, a.conf) + "\n";
    }
  }

  const std::string& label() const { return label_; }

  // ADD then DEL of every attachment by calling the plugins directly, as a runtime calling
  // them one after another would (DEL newest first, each with its prevResult).
  void run_direct(const std::string& cid, Samples* s, int rt = 0) const {
    double add_ms = 0, del_ms = 0, add_cpu = 0, del_cpu = 0;
    std::vector<json> results;
    for (const auto& a : attachments_) {
      Measurement m = checked("direct ADD " + a.ifname, direct(a, "ADD", cid, a.conf, rt));
      add_ms += m.wall_ms;
      add_cpu += m.cpu_ms;
      results.push_back(json::parse(m.out));
    }
    for (size_t i = attachments_.size(); i-- > 0;) {
      json conf = attachments_[i].conf;
      conf["prevResult"] = results[i];
      const Attachment& a = attachments_[i];
      Measurement m = checked("direct DEL " + a.ifname, direct(a, "DEL", cid, conf, rt));
      del_ms += m.wall_ms;
      del_cpu += m.cpu_ms;
    }
    if (s) s->push(add_ms, del_ms, add_cpu, del_cpu);
  }

  // ADD then DEL through cnimux. Returns the bigger of the two wait4 ru_maxrss figures.
  // `in_tree`: with inTree ["macvlan"], so the same NAD bytes run the in-tree macvlan
  // in-process (and its cnimux-ipam in-process too).
  long run_cnimux(const std::string& cid, Samples* s, long* own_peak_kb = nullptr, int rt = 0,
                  bool in_tree = false) const {
    const bool trace = own_peak_kb != nullptr;
    json conf = node_.meta_conf(annotations_);
    if (in_tree) conf["inTree"] = {"macvlan"};
    Measurement add = checked("cnimux ADD", cnimux("ADD", cid, conf, rt), trace);
    conf["prevResult"] = json::parse(add.out);
    Measurement del = checked("cnimux DEL", cnimux("DEL", cid, conf, rt), trace);
    if (s) s->push(add.wall_ms, del.wall_ms, add.cpu_ms, del.cpu_ms);
    if (trace) *own_peak_kb = std::max({*own_peak_kb, add.own_peak_rss_kb, del.own_peak_rss_kb});
    return std::max(add.reaped_maxrss_kb, del.reaped_maxrss_kb);
  }

  // ADD then DEL through cnimux with CNIMUX_PHASE_TRACE=`trace` (cni/phase_trace.h): the
  // stages of each, timed from its fork.
  std::pair<Timeline, Timeline> run_cnimux_traced(const std::string& cid,
                                                  const std::string& trace) const {
    json conf = node_.meta_conf(annotations_);
    Invocation inv = cnimux("ADD", cid, conf);
    inv.env.push_back("CNIMUX_PHASE_TRACE=" + trace);
    Measurement add = checked("cnimux ADD (traced)", inv);
    Timeline add_stages = read_timeline(trace, add);
    conf["prevResult"] = json::parse(add.out);
    inv = cnimux("DEL", cid, conf);
    inv.env.push_back("CNIMUX_PHASE_TRACE=" + trace);
    Measurement del = checked("cnimux DEL (traced)", inv);
    return {std::move(add_stages), read_timeline(trace, del)};
  }

  // ADD then DEL through cnimux-bench-floor: the same delegates, CNI environment and pod, with
  // only exec, the journal's durable writes and the delegates' pipes on top.
  void run_floor(const std::string& cid, Samples* s) const {
    Invocation inv{node_.bin("cnimux-bench-floor"), node_.env("ADD", cid, "eth0"), floor_plan_};
    Measurement add = checked("floor ADD", inv);
    if (!json::parse(add.out).contains("ips"))
      throw std::runtime_error("floor ADD printed no result: " + add.out);
    inv.env = node_.env("DEL", cid, "eth0");
    Measurement del = checked("floor DEL", inv);
    if (s) s->push(add.wall_ms, del.wall_ms, add.cpu_ms, del.cpu_ms);
  }

  // The first delegate's own peak RSS over one traced ADD (for comparison with cnimux's).
  long direct_first_peak_kb(const std::string& cid) const {
    const Attachment& a = attachments_.front();
    Measurement add = checked("direct ADD (traced)", direct(a, "ADD", cid, a.conf), true);
    json conf = a.conf;
    conf["prevResult"] = json::parse(add.out);
    Measurement del = checked("direct DEL (traced)", direct(a, "DEL", cid, conf), true);
    return std::max(add.own_peak_rss_kb, del.own_peak_rss_kb);
  }

 private:
  Invocation direct(const Attachment& a, const std::string& verb, const std::string& cid,
                    const json& conf, int rt = 0) const {
    return {node_.bin(conf.at("type").get<std::string>()), node_.env(verb, cid, a.ifname),
            conf.dump(), rt};
  }
  Invocation cnimux(const std::string& verb, const std::string& cid, const json& conf,
                    int rt = 0) const {
    return {node_.bin("cnimux"), node_.env(verb, cid, "eth0"), conf.dump(), rt};
  }

  std::string label_;
  const BenchNode& node_;
  std::vector<Attachment> attachments_;
  json annotations_;
  std::string floor_plan_;
};

struct ScenarioResult {
  std::string label;
  Samples direct, floor, cnimux;  // normal priority: the headline
  Samples direct_rt, cnimux_rt;   // SCHED_FIFO, when Options::rt_priority > 0
  long reaped_maxrss_kb = 0;
};

// Interleaves direct, floor and cnimux runs, rotating which goes first, so drift in the
// machine's load hits every side alike.
ScenarioResult measure(const Scenario& sc, const Options& o) {
  ScenarioResult r;
  r.label = sc.label();
  for (int i = 0; i < o.warmup + o.iterations; ++i) {
    const bool keep = i >= o.warmup;
    const std::string n = std::to_string(i);
    const std::function<void()> sides[] = {
        [&] { sc.run_direct("bench-d" + n, keep ? &r.direct : nullptr); },
        [&] { sc.run_floor("bench-f" + n, keep ? &r.floor : nullptr); },
        [&] {
          long rss = sc.run_cnimux("bench-c" + n, keep ? &r.cnimux : nullptr);
          if (keep) r.reaped_maxrss_kb = std::max(r.reaped_maxrss_kb, rss);
        }};
    for (int k = 0; k < 3; ++k) sides[(i + k) % 3]();
    if (o.rt_priority > 0) {
      // The same pair again at real-time priority, for the second column.
      auto direct_rt = [&] {
        sc.run_direct("bench-dr" + n, keep ? &r.direct_rt : nullptr, o.rt_priority);
      };
      auto meta_rt = [&] {
        sc.run_cnimux("bench-cr" + n, keep ? &r.cnimux_rt : nullptr, nullptr, o.rt_priority);
      };
      if (i % 2) {
        direct_rt();
        meta_rt();
      } else {
        meta_rt();
        direct_rt();
      }
    }
  }
  return r;
}

// Median of `runs` VERSION calls: the cost of starting the process and answering.
double version_ms(const BenchNode& node, const std::string& type, int runs) {
  std::vector<double> t;
  Invocation inv{
      node.bin(type), {"PATH=/usr/bin:/bin", "CNI_COMMAND=VERSION"}, R"({"cniVersion":"1.0.0"})"};
  for (int i = 0; i < runs + 3; ++i) {
    double ms = checked(type + " VERSION", inv).wall_ms;
    if (i >= 3) t.push_back(ms);
  }
  return median(t);
}

std::string fmt(double v, const char* spec = "%.2f") {
  char buf[64];
  std::snprintf(buf, sizeof buf, spec, v);
  return buf;
}

std::string machine() {
  utsname u{};
  ::uname(&u);
  std::string model = "unknown CPU";
  std::ifstream cpu("/proc/cpuinfo");
  for (std::string line; std::getline(cpu, line);) {
    if (line.rfind("model name", 0) == 0) {
      model = line.substr(line.find(':') + 2);
      break;
    }
  }
  return std::to_string(std::thread::hardware_concurrency()) + " CPUs (" + model + "), Linux " +
         u.release + " " + u.machine;
}

// The 1-minute load average from /proc/loadavg: the machine may be shared.
std::string load_average() {
  std::ifstream in("/proc/loadavg");
  std::string one;
  in >> one;
  return one.empty() ? "?" : one;
}

// How this process (and every plugin it starts) is scheduled.
std::string scheduling() {
  const int policy = ::sched_getscheduler(0);
  sched_param p{};
  ::sched_getparam(0, &p);
  if (policy == SCHED_FIFO) return "SCHED_FIFO priority " + std::to_string(p.sched_priority);
  if (policy == SCHED_RR) return "SCHED_RR priority " + std::to_string(p.sched_priority);
  return "SCHED_OTHER";
}

struct Report {
  std::vector<ScenarioResult> results;
  long own_peak_kb = 0, bridge_peak_kb = 0;
  double version_cnimux_ms = 0, version_bridge_ms = 0;
  std::string load_before, load_after;
  std::string background;  // what BackgroundLoad ran, or "" on a quiet machine
};

void print_rows(const ScenarioResult& r, bool rt, bool judged) {
  for (const char* verb : {"ADD", "DEL"}) {
    const bool add = verb[0] == 'A';
    const auto& d = add ? r.direct.add : r.direct.del;
    const auto& c = add ? r.cnimux.add : r.cnimux.del;
    const double cpu = median(add ? r.cnimux.add_cpu : r.cnimux.del_cpu) -
                       median(add ? r.direct.add_cpu : r.direct.del_cpu);
    const double over = median(c) - median(d), over90 = p90(c) - p90(d);
    const auto& f = add ? r.floor.add : r.floor.del;
    const double floor_cpu = median(add ? r.floor.add_cpu : r.floor.del_cpu) -
                             median(add ? r.direct.add_cpu : r.direct.del_cpu);
    std::string rt_cell;
    if (rt) {
      const auto& drt = add ? r.direct_rt.add : r.direct_rt.del;
      const auto& crt = add ? r.cnimux_rt.add : r.cnimux_rt.del;
      rt_cell = " " + fmt(median(crt) - median(drt), "%+.2f") + " |";
    }
    std::cout << "| " << r.label << " | " << verb << " | " << fmt(median(d)) << " / " << fmt(p90(d))
              << " | " << fmt(median(c)) << " / " << fmt(p90(c)) << " | " << fmt(over, "%+.2f")
              << " / " << fmt(over90, "%+.2f") << " | " << fmt(median(c) / median(d), "%.2f")
              << " | " << fmt(cpu, "%+.2f") << " | " << fmt(median(f) - median(d), "%+.2f") << " / "
              << fmt(floor_cpu, "%+.2f") << " | " << fmt(median(c) - median(f), "%+.2f") << " |"
              << rt_cell << " "
              << (!judged      ? "not judged"
                  : over < 2.0 ? "met"
                               : "**missed**")
              << " |\n";
  }
}

void print_report(const Options& o, const Report& rep) {
  const bool rt = o.rt_priority > 0;
  const std::string rt_name = "SCHED_FIFO " + std::to_string(o.rt_priority);
  std::cout << "Machine: " << machine() << "; load average " << rep.load_before << " before, "
            << rep.load_after << " after; "
            << (rep.background.empty() ? "no background load of ours"
                                       : "background load: " + rep.background)
            << "; plugins run at normal priority (" << scheduling() << ")"
            << (rt ? ", and again at " + rt_name + " for the last column" : "") << "; build type "
            << CNIMUX_BENCH_BUILD_TYPE << ".\n"
            << o.iterations << " ADD+DEL iterations per pod and side after " << o.warmup
            << " warm-up iterations, direct, floor and cnimux interleaved. Times in ms, median / "
               "p90; overhead = cnimux − direct; ratio = cnimux / direct (medians); CPU = median "
               "user+system CPU of the whole process tree, cnimux − direct. Floor = "
               "cnimux-bench-floor, a meta plugin doing only exec, the journal's durable writes "
               "and the delegates' pipes (test/bench/meta/floor_meta.c); floor overhead = floor − "
               "direct, wall / CPU, medians; cnimux − floor = wall medians. Target (normal "
               "priority): overhead < 2 ms.\n\n"
            << "| pod | verb | direct | cnimux | overhead | ratio | CPU overhead | floor overhead "
               "| cnimux − floor |"
            << (rt ? " overhead at real-time priority (" + rt_name + ", not the headline) |" : "")
            << " target |\n"
            << "|---|---|---:|---:|---:|---:|---:|---:|---:|" << (rt ? "---:|" : "") << "---|\n";
  for (const auto& r : rep.results) print_rows(r, rt, !o.loaded);
  if (!o.memory) return;
  long reaped = 0;
  for (const auto& r : rep.results) reaped = std::max(reaped, r.reaped_maxrss_kb);
  const std::string runs = std::to_string(o.version_runs);
  std::cout << "\n| memory and start-up | value | target |\n|---|---:|---|\n"
            << "| cnimux peak RSS (its own VmHWM at exit, max over " << 4 * o.rss_runs
            << " traced calls) | " << fmt(rep.own_peak_kb / 1024.0) << " MB | "
            << (rep.own_peak_kb < 8 * 1024 ? "met (< 8 MB)" : "**missed** (< 8 MB)") << " |\n"
            << "| bridge peak RSS (its own VmHWM, for comparison) | "
            << fmt(rep.bridge_peak_kb / 1024.0) << " MB | |\n"
            << "| wait4 ru_maxrss of cnimux (the largest of cnimux and the delegates it reaped) | "
            << fmt(reaped / 1024.0) << " MB | |\n"
            << "| VERSION call, median of " << runs << ": cnimux | " << fmt(rep.version_cnimux_ms)
            << " ms | |\n"
            << "| VERSION call, median of " << runs << ": bridge | " << fmt(rep.version_bridge_ms)
            << " ms | |\n";
}

// The in-tree table: one pod three ways, interleaved, rotating which goes first.
struct InTreeResult {
  Samples direct, executed, in_tree;
  long in_tree_own_peak_kb = 0, executed_own_peak_kb = 0, in_tree_reaped_kb = 0;
};

InTreeResult measure_in_tree(const Scenario& sc, const Options& o) {
  InTreeResult r;
  for (int i = 0; i < o.warmup + o.iterations; ++i) {
    const bool keep = i >= o.warmup;
    const std::string n = std::to_string(i);
    const std::function<void()> ways[] = {
        [&] { sc.run_direct("bench-d" + n, keep ? &r.direct : nullptr); },
        [&] { sc.run_cnimux("bench-e" + n, keep ? &r.executed : nullptr); },
        [&] {
          long rss = sc.run_cnimux("bench-i" + n, keep ? &r.in_tree : nullptr, nullptr, 0, true);
          if (keep) r.in_tree_reaped_kb = std::max(r.in_tree_reaped_kb, rss);
        }};
    for (int k = 0; k < 3; ++k) ways[(i + k) % 3]();
  }
  for (int i = 0; i < o.rss_runs; ++i) {
    const std::string n = std::to_string(i);
    sc.run_cnimux("bench-ri" + n, nullptr, &r.in_tree_own_peak_kb, 0, true);
    sc.run_cnimux("bench-re" + n, nullptr, &r.executed_own_peak_kb);
  }
  return r;
}

void print_in_tree_row(const char* way, const Samples& s, const Samples& direct,
                       const Samples& executed) {
  for (const char* verb : {"ADD", "DEL"}) {
    const bool add = verb[0] == 'A';
    const auto& v = add ? s.add : s.del;
    std::cout << "| " << way << " | " << verb << " | " << fmt(median(v)) << " / " << fmt(p90(v))
              << " | " << fmt(median(add ? s.add_cpu : s.del_cpu)) << " | "
              << fmt(median(v) / median(add ? direct.add : direct.del)) << " | "
              << fmt(median(v) / median(add ? executed.add : executed.del)) << " |\n";
  }
}

void print_in_tree_report(const Options& o, const InTreeResult& r, const std::string& load_before,
                          const std::string& load_after) {
  const double vs_executed = median(r.in_tree.add) / median(r.executed.add);
  const double vs_direct = median(r.in_tree.add) / median(r.direct.add);
  const double cpu_vs_executed = median(r.in_tree.add_cpu) / median(r.executed.add_cpu);
  const double cpu_vs_direct = median(r.in_tree.add_cpu) / median(r.direct.add_cpu);
  std::cout << "Machine: " << machine() << "; load average " << load_before << " before, "
            << load_after << " after; plugins at normal priority (" << scheduling()
            << "); build type " << CNIMUX_BENCH_BUILD_TYPE << ".\n"
            << "Pod bridge + 2 macvlan, the same NAD bytes and cnimux-ipam (one SQLite store) "
               "everywhere; "
            << o.iterations << " ADD+DEL iterations per way after " << o.warmup
            << " warm-up iterations, the three ways interleaved. Times in ms, median / p90; CPU "
               "= median user+system CPU of the whole process tree.\n\n"
            << "| way | verb | wall | CPU | / direct | / cnimux executing macvlan |\n"
            << "|---|---|---:|---:|---:|---:|\n";
  print_in_tree_row("reference bridge + macvlan + macvlan, called directly", r.direct, r.direct,
                    r.executed);
  print_in_tree_row("cnimux executing the reference macvlan", r.executed, r.direct, r.executed);
  print_in_tree_row("cnimux, inTree [\"macvlan\"] (in-process)", r.in_tree, r.direct, r.executed);
  std::cout << "\n| target | value | verdict |\n|---|---:|---|\n"
            << "| in-process ADD / cnimux executing ADD (cut by at least a third: <= 0.67) | "
            << fmt(vs_executed) << " | " << (vs_executed <= 2.0 / 3 ? "met" : "**missed**")
            << " |\n"
            << "| in-process ADD / direct ADD (<= 0.6) | " << fmt(vs_direct) << " | "
            << (vs_direct <= 0.6 ? "met" : "**missed**") << " |\n"
            << "| the same on CPU (load-independent): in-process / executing (<= 0.67) | "
            << fmt(cpu_vs_executed) << " | " << (cpu_vs_executed <= 2.0 / 3 ? "met" : "**missed**")
            << " |\n"
            << "| the same on CPU: in-process / direct (<= 0.6) | " << fmt(cpu_vs_direct) << " | "
            << (cpu_vs_direct <= 0.6 ? "met" : "**missed**") << " |\n"
            << "| cnimux peak RSS with in-process delegates (own VmHWM, max over " << o.rss_runs
            << " traced ADD+DEL; < 8 MB) | " << fmt(r.in_tree_own_peak_kb / 1024.0) << " MB | "
            << (r.in_tree_own_peak_kb < 8 * 1024 ? "met" : "**missed**") << " |\n"
            << "| cnimux peak RSS executing macvlan (for comparison) | "
            << fmt(r.executed_own_peak_kb / 1024.0) << " MB | |\n"
            << "| wait4 ru_maxrss with in-process delegates (cnimux and the forked children and "
               "bridge it reaped) | "
            << fmt(r.in_tree_reaped_kb / 1024.0) << " MB | |\n";
}

int run_in_tree(const Options& o) {
  BenchNode node(o.build_dir, o.plugins_dir);
  Scenario sc("bridge + 2 macvlan", node,
              {{"eth0", node.bridge_conf()},
               {"net1", node.macvlan_conf(1)},
               {"net2", node.macvlan_conf(2)}},
              {{"k8s.v1.cni.cncf.io/networks", "mv1,mv2"}});
  const std::string before = load_average();
  std::cerr << "bench-meta: bridge + 2 macvlan, three ways ...\n";
  InTreeResult r = measure_in_tree(sc, o);
  print_in_tree_report(o, r, before, load_average());
  return 0;
}

// The two pods of the headline tables and of the stage timeline: the cluster network alone,
// and the cluster network plus two macvlan NADs selected by the pod's annotation.
std::vector<Scenario> headline_scenarios(const BenchNode& node) {
  std::vector<Scenario> scenarios;
  scenarios.emplace_back("bridge", node, std::vector<Attachment>{{"eth0", node.bridge_conf()}},
                         json::object());
  scenarios.emplace_back("bridge + 2 macvlan", node,
                         std::vector<Attachment>{{"eth0", node.bridge_conf()},
                                                 {"net1", node.macvlan_conf(1)},
                                                 {"net2", node.macvlan_conf(2)}},
                         json{{"k8s.v1.cni.cncf.io/networks", "mv1,mv2"}});
  return scenarios;
}

// ---- The stage timeline (--phases): where one ADD's and one DEL's wall time goes. ----

// Prints, for each pair of consecutive stages (ordered by their median time after the fork),
// the median over the runs of the time between them, and the median total.
void print_timeline(const std::string& title, const std::vector<Timeline>& runs, double floor_ms,
                    double direct_ms) {
  std::map<std::string, std::vector<double>> at;
  for (const auto& t : runs)
    for (const auto& [name, ms] : t) at[name].push_back(ms);
  std::vector<std::pair<double, std::string>> order;
  for (auto& [name, v] : at) order.emplace_back(median(v), name);
  std::sort(order.begin(), order.end());
  std::cout << "\n| " << title << ": from | to | median ms | (median time after the fork) |\n"
            << "|---|---|---:|---:|\n"
            << "| fork | " << order.front().second << " | " << fmt(order.front().first, "%.3f")
            << " | " << fmt(order.front().first, "%.3f") << " |\n";
  for (size_t i = 1; i < order.size(); ++i) {
    const std::string& from = order[i - 1].second;
    const std::string& to = order[i].second;
    std::vector<double> d;
    for (const auto& t : runs) {
      auto f = std::find_if(t.begin(), t.end(), [&](const auto& p) { return p.first == from; });
      auto e = std::find_if(t.begin(), t.end(), [&](const auto& p) { return p.first == to; });
      if (f != t.end() && e != t.end()) d.push_back(e->second - f->second);
    }
    std::cout << "| " << from << " | " << to << " | " << fmt(median(d), "%.3f") << " | "
              << fmt(order[i].first, "%.3f") << " |\n";
  }
  std::cout << "| (the floor, fork to reaped) | | | " << fmt(floor_ms, "%.3f") << " |\n"
            << "| (the delegates called directly) | | | " << fmt(direct_ms, "%.3f") << " |\n";
}

int run_phases(const Options& o) {
  BenchNode node(o.build_dir, o.plugins_dir);
  const std::string trace = node.dir() + "/phase-trace";
  const std::vector<Scenario> scenarios = headline_scenarios(node);
  const std::string before = load_average();
  std::cout << "Stage timeline (`cnimux-bench-meta --phases " << o.phases << "`, " << machine()
            << ", load average " << before << "): cnimux with CNIMUX_PHASE_TRACE "
            << "(cni/phase_trace.h), the floor and the direct calls interleaved, " << o.phases
            << " ADD+DEL per pod after " << o.warmup
            << " warm-up ones, rotating which goes first. Each row: the median over the runs of "
               "the time from one stage to the next; stages in the order of their median time "
               "after the fork. A traced call writes its marks to a file at exit, which the "
               "last row (exit to reaped) includes.\n";
  for (const auto& sc : scenarios) {
    std::cerr << "bench-meta: stage timeline, " << sc.label() << " ...\n";
    std::vector<Timeline> adds, dels;
    Samples floor, direct;
    for (int i = 0; i < o.warmup + o.phases; ++i) {
      const bool keep = i >= o.warmup;
      const std::string n = std::to_string(i);
      const std::function<void()> sides[] = {
          [&] { sc.run_direct("phase-d" + n, keep ? &direct : nullptr); },
          [&] { sc.run_floor("phase-f" + n, keep ? &floor : nullptr); },
          [&] {
            auto [add, del] = sc.run_cnimux_traced("phase-c" + n, trace);
            if (keep) {
              adds.push_back(std::move(add));
              dels.push_back(std::move(del));
            }
          }};
      for (int k = 0; k < 3; ++k) sides[(i + k) % 3]();  // rotated, as measure() does
    }
    print_timeline(sc.label() + " ADD", adds, median(floor.add), median(direct.add));
    print_timeline(sc.label() + " DEL", dels, median(floor.del), median(direct.del));
  }
  std::cout << "\nLoad average after: " << load_average() << ".\n";
  return 0;
}

int run(const Options& o) {
  if (o.in_tree) return run_in_tree(o);
  if (o.phases > 0) return run_phases(o);
  BenchNode node(o.build_dir, o.plugins_dir);
  const std::vector<Scenario> scenarios = headline_scenarios(node);
  Report rep;
  rep.load_before = load_average();
  {
    std::optional<BackgroundLoad> load;
    if (o.loaded) {
      load.emplace(std::thread::hardware_concurrency(), node.dir(), 3600);
      rep.background = load->describe();
    }
    for (const auto& sc : scenarios) {
      std::cerr << "bench-meta: " << sc.label() << (o.loaded ? " (loaded)" : "") << " ...\n";
      rep.results.push_back(measure(sc, o));
    }
  }
  if (!o.memory) {
    rep.load_after = load_average();
    print_report(o, rep);
    return 0;
  }
  std::cerr << "bench-meta: peak RSS and VERSION ...\n";
  for (int i = 0; i < o.rss_runs; ++i) {
    const std::string n = std::to_string(i);
    for (const auto& sc : scenarios) sc.run_cnimux("bench-r" + n, nullptr, &rep.own_peak_kb);
    rep.bridge_peak_kb =
        std::max(rep.bridge_peak_kb, scenarios.front().direct_first_peak_kb("bench-b" + n));
  }
  rep.version_cnimux_ms = version_ms(node, "cnimux", o.version_runs);
  rep.version_bridge_ms = version_ms(node, "bridge", o.version_runs);
  rep.load_after = load_average();
  print_report(o, rep);
  return 0;
}

}  // namespace
}  // namespace bench

int main(int argc, char** argv) {
  bench::Options o;
  CLI::App app{
      "cnimux meta-plugin benchmark: cnimux and the floor (cnimux-bench-floor) versus calling "
      "the delegates directly"};
  app.add_option("--build-dir", o.build_dir,
                 "build dir holding plugin/cnimux and ipam/cnimux-ipam");
  app.add_option("--plugins-dir", o.plugins_dir, "reference CNI plugins");
  app.add_option("--iterations", o.iterations, "measured ADD+DEL per pod and side")
      ->check(CLI::PositiveNumber);
  app.add_option("--warmup", o.warmup, "unmeasured iterations first")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--rss-runs", o.rss_runs, "traced ADD+DEL per pod for peak RSS")
      ->check(CLI::PositiveNumber);
  app.add_option("--version-runs", o.version_runs, "VERSION calls per binary")
      ->check(CLI::PositiveNumber);
  app.add_option("--rt-priority", o.rt_priority,
                 "also measure at SCHED_FIFO with this priority (0: do not)")
      ->check(CLI::Range(0, 99));
  app.add_flag("--loaded", o.loaded,
               "run under a background CPU + fsync load of the machine's size");
  app.add_flag("!--no-memory", o.memory, "skip the peak RSS and VERSION table");
  app.add_flag("--in-tree", o.in_tree,
               "bridge + 2 macvlan three ways: direct, cnimux executing macvlan, cnimux with "
               "inTree [\"macvlan\"] (normal priority only)");
  app.add_option("--phases", o.phases,
                 "only the stage timeline of cnimux's ADD and DEL (CNIMUX_PHASE_TRACE), over "
                 "this many runs per pod, beside the floor and the direct calls");
  CLI11_PARSE(app, argc, argv);
  struct sigaction sa {};
  sa.sa_handler = [](int) { bench::g_stop = true; };
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  try {
    return bench::run(o);
  } catch (const std::exception& e) {
    std::cerr << "bench-meta: " << e.what() << "\n";
    return 1;
  }
}
