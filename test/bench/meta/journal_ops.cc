// Micro-benchmark of the journal's file operations on the file system of a directory: what
// a save costs as a new file (temp file + rename), as an ADD's first record over its marker,
// as an append to the log (the journal now), and as a replace over an existing file (every
// save before the log), durable and ordered. Prints CPU (getrusage of this process, mean)
// and wall (median, p90) per operation.
// Usage: cnimux-bench-journal-ops DIR [N]   (DIR is created; its files are removed after)
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "cni/state_file.h"
#include "plugin/journal.h"

namespace {

double cpu_ms() {
  rusage r{};
  ::getrusage(RUSAGE_SELF, &r);
  return (r.ru_utime.tv_sec + r.ru_stime.tv_sec) * 1e3 +
         (r.ru_utime.tv_usec + r.ru_stime.tv_usec) / 1e3;
}

double wall_ms() {
  return std::chrono::duration<double, std::milli>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

struct Samples {
  const char* what;
  std::vector<double> cpu, wall;
  void time(const std::function<void()>& op) {
    const double c = cpu_ms(), w = wall_ms();
    op();
    cpu.push_back(cpu_ms() - c);
    wall.push_back(wall_ms() - w);
  }
  void print() {
    std::sort(wall.begin(), wall.end());
    double sum = 0;
    for (double x : cpu) sum += x;
    std::printf("| %s | %.3f ms | %.3f ms | %.3f ms |\n", what, sum / cpu.size(),
                wall[wall.size() / 2], wall[wall.size() * 9 / 10]);
  }
};

plugin::JournalRecord record(const std::string& cid) {
  plugin::JournalRecord r;
  r.container_id = cid;
  r.ifname = "eth0";
  plugin::PlannedAttachment a;
  a.network = "default/cluster";
  a.ifname = "eth0";
  a.conflist = std::string(2400, 'x');  // about the size of a bridge pod's record
  r.attachments.push_back({a, plugin::AttachmentState::kStarted, nullptr});
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s DIR [N]\n", argv[0]);
    return 2;
  }
  const std::string dir = argv[1];
  const int n = argc > 2 ? std::atoi(argv[2]) : 300;
  using Sync = plugin::Journal::Sync;
  Samples create{"new file, durable (temp file, fdatasync, rename, directory fsync)"};
  Samples over_marker{"first record over the ADD marker, durable"};
  Samples append_durable{"append, durable (pwrite + fdatasync)"};
  Samples append_ordered{"append, ordered (pwrite)"};
  Samples replace_durable{"replace, durable (temp file, fdatasync, rename over, directory fsync)"};
  Samples replace_ordered{"replace, ordered (temp file, rename over)"};
  const std::string bytes = plugin::to_json(record("x")).dump();
  for (int i = 0; i < n; ++i) {
    const std::string cid = "bench" + std::to_string(i);
    plugin::Journal journal(dir);  // one cnimux run
    const plugin::JournalRecord r = record(cid);
    // An ADD's first record: the marker this run just created is there (the marker itself,
    // an open and a close, is not timed).
    const std::string marked = "marked" + std::to_string(i);
    const plugin::JournalRecord m = record(marked);
    journal.mark_adding(marked);
    over_marker.time([&] { journal.save(m, Sync::kDurable); });
    journal.remove(marked);
    create.time([&] { journal.save(r, Sync::kDurable); });
    append_durable.time([&] { journal.save(r, Sync::kDurable); });
    append_ordered.time([&] { journal.save(r, Sync::kOrdered); });
    const std::string path = dir + "/old-" + cid;
    cni::write_state_file(path, path + ".tmp", bytes, false);
    replace_durable.time([&] { cni::write_state_file(path, path + ".tmp", bytes, true); });
    replace_ordered.time([&] { cni::write_state_file(path, path + ".tmp", bytes, false); });
    journal.remove(cid);
    std::filesystem::remove(path);
  }
  std::printf("%d of each, a %zu-byte record, in %s\n\n", n, bytes.size(), dir.c_str());
  std::printf("| write | CPU (mean) | wall (median) | wall (p90) |\n|---|---:|---:|---:|\n");
  for (Samples* s : {&create, &over_marker, &append_durable, &append_ordered, &replace_durable,
                     &replace_ordered})
    s->print();
}
