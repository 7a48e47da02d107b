// A C interface to c10d, the collective-communication engine inside libtorch: a process group
// (Gloo over a TCPStore or a FileStore) and in-place all-reduce (sum), broadcast and barrier on
// tch tensors, each with a timeout.
//
// Every entry point catches every C++ exception and returns it as a status code (the kind of
// failure) and a message allocated with malloc (freed by pyrite_c10d_free_message); nothing is
// thrown across the C boundary.

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <memory>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>
#include <torch/csrc/distributed/c10d/FileStore.hpp>
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#include <torch/csrc/distributed/c10d/exception.h>

namespace {

// Status codes, mirrored by `ffi::Status` on the Rust side.
enum Status : int {
  kOk = 0,
  kTimeout = 1,
  kNetwork = 2,
  kStore = 3,
  kBackend = 4,
  kTorch = 5,
  kOther = 6,
};

struct Group {
  c10::intrusive_ptr<c10d::Backend> backend;
  std::chrono::milliseconds timeout;
};

char* copy_message(const std::string& text) {
  char* out = static_cast<char*>(std::malloc(text.size() + 1));
  if (out != nullptr) {
    std::memcpy(out, text.c_str(), text.size() + 1);
  }
  return out;
}

bool mentions(const std::string& text, const char* needle) {
  return text.find(needle) != std::string::npos;
}

// The status of a message from Gloo, which throws its own exception types (derived from
// std::runtime_error) for timeouts and closed connections.
int classify(const std::string& text) {
  if (mentions(text, "imed out") || mentions(text, "imeout")) return kTimeout;
  if (mentions(text, "onnection closed") || mentions(text, "onnection reset") ||
      mentions(text, "roken pipe") || mentions(text, "onnection refused")) {
    return kNetwork;
  }
  return kOther;
}

// Runs `body`, turning every exception into a status and a message.
template <typename F>
int guarded(char** message, F&& body) {
  *message = nullptr;
  try {
    body();
    return kOk;
  } catch (const c10d::TimeoutError& e) {
    *message = copy_message(e.what_without_backtrace());
    return kTimeout;
  } catch (const c10::DistNetworkError& e) {
    std::string text = e.what_without_backtrace();
    *message = copy_message(text);
    return classify(text) == kTimeout ? kTimeout : kNetwork;
  } catch (const c10::DistStoreError& e) {
    std::string text = e.what_without_backtrace();
    *message = copy_message(text);
    return classify(text) == kTimeout ? kTimeout : kStore;
  } catch (const c10::DistBackendError& e) {
    std::string text = e.what_without_backtrace();
    *message = copy_message(text);
    int kind = classify(text);
    return kind == kOther ? kBackend : kind;
  } catch (const c10::Error& e) {
    std::string text = e.what_without_backtrace();
    *message = copy_message(text);
    int kind = classify(text);
    return kind == kOther ? kTorch : kind;
  } catch (const std::exception& e) {
    std::string text = e.what();
    *message = copy_message(text);
    return classify(text);
  } catch (...) {
    *message = copy_message("an unknown C++ exception");
    return kOther;
  }
}

// A Gloo process group over `store`, under a prefix so that its keys never collide with those of
// a launcher sharing the store (torchrun's agent) or of another group.
Group* make_group(const c10::intrusive_ptr<c10d::Store>& store, const char* prefix, int rank,
                  int world_size, int64_t timeout_ms) {
  auto timeout = std::chrono::milliseconds(timeout_ms);
  auto prefixed = c10::make_intrusive<c10d::PrefixStore>(prefix, store);
  auto options = c10d::ProcessGroupGloo::Options::create(timeout);
  // As torch.distributed: GLOO_SOCKET_IFNAME names the interfaces (comma-separated), else the
  // address this machine's host name resolves to.
  const char* interfaces = std::getenv("GLOO_SOCKET_IFNAME");
  if (interfaces != nullptr && *interfaces != '\0') {
    std::string names(interfaces);
    size_t start = 0;
    while (start <= names.size()) {
      size_t end = names.find(',', start);
      if (end == std::string::npos) end = names.size();
      if (end > start) {
        options->devices.push_back(
            c10d::ProcessGroupGloo::createDeviceForInterface(names.substr(start, end - start)));
      }
      start = end + 1;
    }
  }
  if (options->devices.empty()) {
    options->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
  }
  auto backend = c10::make_intrusive<c10d::ProcessGroupGloo>(prefixed, rank, world_size, options);
  return new Group{backend, timeout};
}

// Waits for a collective, within the group's timeout; a false return means it was aborted.
void finish(const Group* group, const c10::intrusive_ptr<c10d::Work>& work, const char* what) {
  if (!work->wait(group->timeout)) {
    throw std::runtime_error(std::string(what) + " was aborted");
  }
}

}  // namespace

extern "C" {

void pyrite_c10d_free_message(char* message) { std::free(message); }

// A process group whose ranks meet through a TCPStore at host:port. `is_server`: this process
// hosts the store (rank 0 without a launcher's store); otherwise it connects as a client.
int pyrite_c10d_group_tcp(const char* host, uint16_t port, int is_server, const char* prefix,
                          int rank, int world_size, int64_t timeout_ms, Group** out,
                          char** message) {
  *out = nullptr;
  return guarded(message, [&] {
    c10d::TCPStoreOptions opts;
    opts.port = port;
    opts.isServer = is_server != 0;
    opts.numWorkers = world_size;
    opts.waitWorkers = true;
    opts.timeout = std::chrono::milliseconds(timeout_ms);
    opts.multiTenant = true;
    auto store = c10::make_intrusive<c10d::TCPStore>(std::string(host), opts);
    *out = make_group(store, prefix, rank, world_size, timeout_ms);
  });
}

// A process group whose ranks meet through a FileStore at `path` (a file on a file system that
// every rank sees; it must not hold another group's store).
int pyrite_c10d_group_file(const char* path, const char* prefix, int rank, int world_size,
                           int64_t timeout_ms, Group** out, char** message) {
  *out = nullptr;
  return guarded(message, [&] {
    auto store = c10::make_intrusive<c10d::FileStore>(std::string(path), world_size);
    store->setTimeout(std::chrono::milliseconds(timeout_ms));
    *out = make_group(store, prefix, rank, world_size, timeout_ms);
  });
}

void pyrite_c10d_group_free(Group* group) {
  char* message = nullptr;
  guarded(&message, [&] { delete group; });
  std::free(message);
}

// Sums `tensor` over all ranks, in place.
int pyrite_c10d_all_reduce_sum(Group* group, at::Tensor* tensor, char** message) {
  return guarded(message, [&] {
    std::vector<at::Tensor> tensors{*tensor};
    c10d::AllreduceOptions opts;
    opts.reduceOp = c10d::ReduceOp::SUM;
    opts.timeout = group->timeout;
    finish(group, group->backend->allreduce(tensors, opts), "all-reduce");
  });
}

// Replaces `tensor` on every rank with its value on rank `root`, in place.
int pyrite_c10d_broadcast(Group* group, at::Tensor* tensor, int root, char** message) {
  return guarded(message, [&] {
    std::vector<at::Tensor> tensors{*tensor};
    c10d::BroadcastOptions opts;
    opts.rootRank = root;
    opts.rootTensor = 0;
    opts.timeout = group->timeout;
    finish(group, group->backend->broadcast(tensors, opts), "broadcast");
  });
}

// Returns once every rank has called it.
int pyrite_c10d_barrier(Group* group, char** message) {
  return guarded(message, [&] {
    c10d::BarrierOptions opts;
    opts.timeout = group->timeout;
    finish(group, group->backend->barrier(opts), "barrier");
  });
}

}  // extern "C"
