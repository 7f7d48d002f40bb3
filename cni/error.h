// The CNI error: a well-known code, a message naming the offending field and value, and
// optional details. Plugins throw it; the skeleton turns it into the error object on stdout.
#pragma once

#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>

namespace cni {

// Codes from the CNI specification; 100 and up are plugin-specific.
enum ErrorCode : int {
  kIncompatibleVersion = 1,
  kUnsupportedField = 2,
  kUnknownContainer = 3,
  kInvalidEnvironment = 4,
  kIoFailure = 5,
  kDecodeFailure = 6,
  kInvalidConfig = 7,
  kTryAgainLater = 11,
  kNotAvailable = 50,
  kNotAvailableDegraded = 51,
  // cnimux's own codes.
  kDelegateFailed = 100,      // a delegate failed without an error object of its own
  kDelegateTimeout = 101,     // a delegate did not finish before its deadline
  kIpamExhausted = 110,       // no free address left in the pool
  kIpamAddressTaken = 111,    // a requested address is held by another owner
  kKubeApiFailure = 120,      // the Kubernetes API could not be reached or answered wrong
  kPodNotFound = 121,         // the pod named in CNI_ARGS does not exist
  kAddressConflict = 130,     // coordination: another host on the link answers for the address
  kGatewayUnreachable = 131,  // coordination: the link's gateway does not answer ARP
};

class Error : public std::runtime_error {
 public:
  Error(int code, std::string msg, std::string details = {})
      : std::runtime_error(msg), code_(code), msg_(std::move(msg)), details_(std::move(details)) {}

  int code() const { return code_; }
  const std::string& msg() const { return msg_; }
  // Free text: libcni decodes `details` as a string, so it never holds an object.
  const std::string& details() const { return details_; }
  void set_details(std::string details) { details_ = std::move(details); }

  // {"cniVersion", "code", "msg", "details"?}
  nlohmann::json to_json(const std::string& cni_version) const;
  // Parses an error object printed by another plugin; nullopt-like failure throws.
  static Error from_json(const nlohmann::json& j);

 private:
  int code_;
  std::string msg_;
  std::string details_;
};

}  // namespace cni
