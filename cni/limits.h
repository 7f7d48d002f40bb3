// The limits cnimux puts on input from outside (stdin, NADs, pod objects, annotations, files),
// in one place, so docs/configuration.md ("Limits") and the code cannot drift apart.
#pragma once

#include <cstddef>

namespace cni {

// Containers ({} and []) nested inside each other in any JSON document from outside. Deeper
// documents are refused at parse time: copying or printing nlohmann::json recurses, and
// 100,000 levels overflow the stack. Must stay >= 64 (the documented promise).
inline constexpr int kMaxJsonDepth = 128;

// Bytes of a JSON document from outside (a NAD's spec.config, an API answer, a file), and of
// stdin, which is never read past this. Must stay >= 1 MiB.
inline constexpr size_t kMaxJsonBytes = size_t{4} << 20;
inline constexpr size_t kMaxStdinBytes = kMaxJsonBytes;

// The networks annotation: Kubernetes caps all of a pod's annotations together at 256 KiB,
// so no API server can hand cnimux more; manifests and CRI are held to the same bound.
inline constexpr size_t kMaxNetworksAnnotationBytes = size_t{256} << 10;

// Networks one pod may select in its annotation. Each one is an attachment: a delegate run
// plus journal writes. Must stay >= 64.
inline constexpr size_t kMaxNetworksPerPod = 128;

// CNI_CONTAINERID characters. State files are named after the container ID plus a prefix
// and suffix, and a file name may have at most 255 bytes.
inline constexpr size_t kMaxContainerIdLength = 240;

}  // namespace cni
