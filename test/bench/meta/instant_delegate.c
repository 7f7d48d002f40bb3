/* cnimux-bench-instant: a CNI plugin that does nothing, instantly. A stand-in delegate for
 * profiling cnimux's own cost (scripts/bench_profile.sh): static C, no allocation, so the
 * delegate's share of a callgrind or strace profile is a few thousand instructions. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(void) {
  const char* verb = getenv("CNI_COMMAND");
  const char* ifname = getenv("CNI_IFNAME");
  const char* netns = getenv("CNI_NETNS");
  char buf[4096];
  /* Drain stdin as a real plugin does, so the caller's write never meets a closed pipe. */
  while (read(0, buf, sizeof buf) > 0) {
  }
  if (!verb) return 1;
  if (strcmp(verb, "VERSION") == 0) {
    fputs(
        "{\"cniVersion\":\"1.0.0\",\"supportedVersions\":[\"0.3.0\",\"0.3.1\",\"0.4.0\","
        "\"1.0.0\",\"1.1.0\"]}",
        stdout);
  } else if (strcmp(verb, "ADD") == 0) {
    printf(
        "{\"cniVersion\":\"1.0.0\",\"interfaces\":[{\"name\":\"%s\",\"sandbox\":\"%s\"}],"
        "\"ips\":[{\"address\":\"10.99.0.2/24\",\"interface\":0}]}",
        ifname ? ifname : "eth0", netns ? netns : "");
  }
  return 0;
}
