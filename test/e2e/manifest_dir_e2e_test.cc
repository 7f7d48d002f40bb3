// Hostile podDir and nadDir files through the real cnimux: the pod's own manifest nested
// 100,000 deep fails the ADD with code 7 naming it before anything runs, and alias bombs in
// other files are logged by name while the pod is attached as usual.
#include <gtest/gtest.h>

#include <string>

#include "test/e2e/e2e_node.h"

namespace cnimux_test {
namespace {

// 9 anchored levels of 9 aliases: 9^9 strings once expanded. `head` goes first.
std::string billion_laughs(const std::string& head) {
  std::string y = head + "a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n";
  for (char c = 'b'; c <= 'i'; ++c) {
    y += std::string(1, c) + ": &" + c + " [";
    for (int i = 0; i < 9; ++i) y += std::string(i ? ", *" : "*") + static_cast<char>(c - 1);
    y += "]\n";
  }
  return y;
}

TEST(ManifestDirE2e, DeeplyNestedOwnManifestFailsTheAddNamingTheFile) {
  E2eNode node("md");
  TestNetns pod("md");
  node.write_cluster_network(node.fake_config({}));
  const std::string file = node.dir() + "/pods/default_web.yaml";
  E2eNode::write(file, "kind: Pod\nmetadata: {name: web, namespace: default}\nspec: " +
                           std::string(100000, '[') + std::string(100000, ']') + "\n");

  auto add = node.run("ADD", "cmd1", pod.path(), node.meta_config());
  EXPECT_EQ(add.exit_code, 1) << add.out << add.err;
  json err;
  ASSERT_NO_THROW(err = add.json()) << "stdout must be exactly one JSON object: " << add.out;
  EXPECT_EQ(err.value("code", 0), 7) << err.dump();
  EXPECT_NE(err.value("msg", "").find(file), std::string::npos) << err.dump();
  EXPECT_NE(err.value("msg", "").find("nested"), std::string::npos) << err.dump();
  EXPECT_TRUE(node.fake_calls().empty()) << node.read("fake.log");
  EXPECT_TRUE(E2eNode::links_in(pod).empty());
  EXPECT_FALSE(std::filesystem::exists(node.journal_dir() + "/cmd1"));
}

TEST(ManifestDirE2e, AliasBombsInOtherFilesAreLoggedAndThePodIsAttached) {
  E2eNode node("mb");
  TestNetns pod("mb");
  node.write_cluster_network(node.fake_config({{"address", "10.231.0.7/24"}}));
  node.write_nad("default", "n1", node.fake_config({{"address", "10.232.0.9/24"}}));
  node.write_pod("default", "web", "uid-mb", {{"k8s.v1.cni.cncf.io/networks", "n1"}});
  // They spell "web", "n1" and "cluster" (looked up in nadDir first), so they are read.
  const std::string head = "# web n1 cluster\n";
  E2eNode::write(node.dir() + "/pods/zz-bomb.yaml", billion_laughs(head));
  E2eNode::write(node.dir() + "/nads/zz-bomb.yaml", billion_laughs(head));
  // Not named after web: a pod lookup that misses the named files reads it too.
  std::filesystem::rename(node.dir() + "/pods/default-web.json", node.dir() + "/pods/all.json");
  const json meta = node.meta_config();

  auto add = node.run("ADD", "cmb1", pod.path(), meta);
  ASSERT_EQ(add.exit_code, 0) << add.out << add.err;
  EXPECT_EQ(node.fake_calls(), (std::vector<std::string>{"ADD eth0", "ADD net1"}));
  const std::string log = node.read("cnimux.log");
  for (const char* dir : {"/pods/", "/nads/"}) {
    EXPECT_NE(log.find("skipping manifest \"" + node.dir() + dir + "zz-bomb.yaml\""),
              std::string::npos)
        << log;
  }
  auto del = node.run("DEL", "cmb1", pod.path(), meta);
  EXPECT_EQ(del.exit_code, 0) << del.out << del.err;
}

}  // namespace
}  // namespace cnimux_test
