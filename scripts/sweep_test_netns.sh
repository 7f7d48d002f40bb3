#!/usr/bin/env bash
# Removes the network namespaces of test processes that no longer exist. Every test names its
# namespaces cxt<pid>... (test/fakes/test_netns.h) and deletes them in destructors, but a test
# killed by ctest's timeout or by a signal runs no destructor: this sweep, run by `make test`
# before and after ctest, cleans up after such a process. Namespaces of live processes stay.
set -u
for ns in $(ip netns list 2>/dev/null | awk '{print $1}'); do
  [[ $ns =~ ^cxt([0-9]+) ]] || continue
  pid=${BASH_REMATCH[1]}
  [[ -d /proc/$pid ]] && continue
  ip netns delete "$ns" 2>/dev/null && echo "sweep_test_netns: removed $ns (process $pid is gone)"
done
exit 0
