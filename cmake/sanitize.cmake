# CNIMUX_SANITIZE: AddressSanitizer (with LeakSanitizer) and UBSan over every library, test
# and binary, the ones the e2e tests execute included. `make test-sanitize` builds only the
# `cnimux-sanitize-tests` target and runs `ctest -L sanitize`; docs/reliability.md, "Sanitizers".

# Before the subdirectories: flags for everything they define.
macro(cnimux_sanitize_setup)
  if(CNIMUX_FUZZ)
    message(FATAL_ERROR "CNIMUX_SANITIZE and CNIMUX_FUZZ are separate trees (build-sanitize/, build-fuzz/)")
  endif()
  # Any report ends the process: a finding can never scroll past as a warning.
  add_compile_options(-fsanitize=address,undefined -fno-sanitize-recover=all
                      -fno-omit-frame-pointer)
  add_link_options(-fsanitize=address,undefined)

  # Every process writes its reports here (cmake/sanitizer_default_options.c says why).
  set(CNIMUX_SANITIZER_LOG_DIR ${PROJECT_BINARY_DIR}/sanitizer-logs)
  file(MAKE_DIRECTORY ${CNIMUX_SANITIZER_LOG_DIR})
  add_library(cnimux_sanitizer_options STATIC
              ${PROJECT_SOURCE_DIR}/cmake/sanitizer_default_options.c)
  target_compile_definitions(cnimux_sanitizer_options PRIVATE
    CNIMUX_SANITIZER_LOG_DIR="${CNIMUX_SANITIZER_LOG_DIR}")
  # Linked into every target defined from here on; -u pulls the definitions out of the
  # archive, since nothing in the program itself calls them (the sanitizer runtime does).
  link_libraries(cnimux_sanitizer_options)
  add_link_options(-Wl,-u,__asan_default_options -Wl,-u,__ubsan_default_options)
endmacro()

# The e2e tests checked under the sanitizers: the ones that drive the cnimux binary (and
# cnimux-ipam, the in-tree delegates, the fake delegate) through ADD, DEL, rollback, the
# journal and hostile input. Each is run as one ctest (the whole gtest binary).
set(CNIMUX_SANITIZE_E2E
  smoke_e2e_test                 # ADD then DEL, the baseline path
  attach_e2e_test                # repeated ADD, plan checks that refuse before touching the node
  del_e2e_test                   # DEL twice, empty/deleted netns, missing and corrupt journals
  failure_e2e_test               # a failing delegate at each position: rollback
  multus_faults_e2e_test         # hung delegate, killed meta plugin, retried ADD
  signals_e2e_test               # SIGTERM rollback; DEL after SIGKILL from the journal
  never_wedged_e2e_test          # stored attachments that cannot run, repeated DEL, GC, STATUS
  verbs_e2e_test                 # CHECK, STATUS and GC over real journals
  hostile_input_e2e_test         # bad names, deep JSON, escaping types: errors, never crashes
  manifest_dir_e2e_test          # hostile podDir/nadDir files (deep nesting, alias bombs)
  runtime_args_e2e_test          # podman CNI_ARGS, runtimeConfig, delegates silent on VERSION
  api_failure_e2e_test           # API down/5xx/slow/401 and a failed PATCH's rollback (libcurl)
  kube_api_e2e_test              # the API pod source and the network-status PATCH
  in_tree_e2e_test               # the in-tree macvlan run in-process
  conformance_macvlan_e2e_test   # cnimux-macvlan executed and in-process vs the reference
  conformance_host_device_e2e_test  # cnimux-host-device executed, in-process and via cnimux
  sriov_e2e_test                 # the in-tree sriov through cnimux, in-process and executed
)
# Left out, and why:
#   parallel_e2e_test      20 cnimux at once: the smoke path 20 times; what it tests (no
#                          address handed out twice) is locking, which ASan does not check.
#   coordination_e2e_test  routing and DNAT outcomes in a node netns; the longest e2e test,
#                          its cnimux side is the ADD path above plus unit-tested config.
#   etcd_ipam_e2e_test     the etcd store is covered by the unit tests (EtcdStoreTest).
#   startup_e2e_test       asserts which shared libraries load; the sanitizer runtimes change it.
#   containerd/podman      start whole runtimes (minutes, RUN_SERIAL) to drive the same verbs.
#   conformance_ipvlan_e2e_test  skips on kernels without ipvlan (this CI's); cnimux-ipvlan
#                          shares its child-link core with macvlan (in) and has unit tests.
#   e2e.demo               the demo script: the smoke path with printing.
#   soak.faults            the fault campaign: 100 random plans whose hangs and deadlines are
#                          sized for the ordinary build; its faults are in failure,
#                          multus_faults, del and never_wedged above, one at a time.
#   soak.kill9             calibrated on wall-clock medians; a SIGKILLed process reports nothing,
#                          and DEL after a kill is covered by signals and multus_faults above.

# Collects the executables defined in `dir` and below into `out`.
function(cnimux_executables_under dir out)
  set(found)
  get_property(targets DIRECTORY ${dir} PROPERTY BUILDSYSTEM_TARGETS)
  foreach(t ${targets})
    get_target_property(type ${t} TYPE)
    if(type STREQUAL "EXECUTABLE")
      list(APPEND found ${t})
    endif()
  endforeach()
  get_property(subdirs DIRECTORY ${dir} PROPERTY SUBDIRECTORIES)
  foreach(d ${subdirs})
    cnimux_executables_under(${d} sub)
    list(APPEND found ${sub})
  endforeach()
  set(${out} ${found} PARENT_SCOPE)
endfunction()

# After the subdirectories: one target that builds exactly what the subset needs (the test
# binaries pull in the binaries they execute through their dependencies), and the tests.
function(cnimux_sanitize_tests)
  cnimux_executables_under(${PROJECT_SOURCE_DIR}/test/unit unit_tests)
  cnimux_executables_under(${PROJECT_SOURCE_DIR}/test/fuzz fuzz_replays)
  add_custom_target(cnimux-sanitize-tests)
  foreach(t ${unit_tests} ${CNIMUX_SANITIZE_E2E} ${fuzz_replays})
    if(NOT TARGET ${t})
      message(FATAL_ERROR "CNIMUX_SANITIZE_E2E names ${t}, which is not a target")
    endif()
    add_dependencies(cnimux-sanitize-tests ${t})
  endforeach()
  # The fake delegate parses multi-megabyte stdin in some tests (LargeStdinIsDeliveredWhole):
  # at -O0 with ASan that takes over a CPU-second, enough to pass a 30 s deadline on a loaded
  # machine; optimised it takes a tenth. It stays instrumented.
  target_compile_options(cnimux-fake-delegate PRIVATE -O2)
  foreach(t ${unit_tests} ${CNIMUX_SANITIZE_E2E})
    add_test(NAME sanitize.${t} COMMAND ${t})
    set_tests_properties(sanitize.${t} PROPERTIES LABELS sanitize TIMEOUT 900)
  endforeach()
  # The fuzz targets' replay drivers over their seed corpora (hostile parser inputs).
  foreach(exe ${fuzz_replays})
    string(REGEX REPLACE "^fuzz_" "" t ${exe})
    add_test(NAME sanitize.fuzz_replay.${t}
             COMMAND ${exe} ${PROJECT_SOURCE_DIR}/test/fuzz/${t}/corpus)
    set_tests_properties(sanitize.fuzz_replay.${t} PROPERTIES LABELS sanitize TIMEOUT 900)
  endforeach()
endfunction()
