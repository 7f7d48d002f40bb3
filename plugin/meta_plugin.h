// cnimux, the meta plugin: attaches the cluster network and every selected network as one
// transaction, journaled so that rollback and DEL hold even if the process is killed.
#pragma once

#include <memory>

#include "cni/plugin.h"

namespace plugin {

class MetaPlugin : public cni::Plugin {
 public:
  MetaPlugin();
  ~MetaPlugin() override;

  // ADD: plan, journal, run every attachment in order; on any failure DEL every started
  // attachment newest first and throw the original error with the rollback in `details`.
  // A repeated ADD of a complete attachment returns the recorded result untouched.
  cni::Result add(const cni::Request& req) override;
  // DEL: replay the journal in reverse, attempt every attachment, join the errors; keep the
  // journal while anything failed. Never calls the API server when a journal exists.
  void del(const cni::Request& req) override;
  // CHECK: CHECK every attachment against its recorded result.
  void check(const cni::Request& req) override;
  // STATUS: 50 when cniDir is unusable; otherwise the cluster network's STATUS.
  void status(const cni::Request& req) override;
  // GC: DEL every journaled attachment not in the valid list, then forward GC per network.
  void gc(const cni::Request& req) override;
};

}  // namespace plugin
