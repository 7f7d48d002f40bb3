// Default-route handling: when a selected network claims the pod's default route (the
// `default-route` selection field), the cluster network's default routes are removed from the
// pod and from its result, and the claimed gateways become the pod's default routes.
#pragma once

#include "plugin/journal.h"

namespace plugin {

// Applies the plan's default-route choice inside rec.netns and updates the recorded results.
// Does nothing when the cluster network keeps the default route. Throws cni::Error.
void apply_default_route(JournalRecord& rec);

}  // namespace plugin
