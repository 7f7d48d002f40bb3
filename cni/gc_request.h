// GC's list of live attachments: the one parser of cni.dev/valid-attachments, shared by the
// meta plugin and cnimux-ipam so that both read the same list the same way.
#pragma once

#include <set>
#include <string>
#include <utility>

#include "cni/config.h"

namespace cni {

// (containerID, ifname) of one live attachment.
using AttachmentKey = std::pair<std::string, std::string>;
using ValidAttachments = std::set<AttachmentKey>;

// The live attachments a GC request lists: the union of `cni.dev/valid-attachments` and the
// older `cni.dev/attachments` (libcni sends both). A key that is absent or null lists
// nothing. Each entry must be an object with string "containerID" and "ifname" (other keys
// are ignored). Error(kInvalidConfig) naming the key, and the entry's index, otherwise.
ValidAttachments valid_attachments(const NetConf& conf);

}  // namespace cni
