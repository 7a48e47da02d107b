// Captures what a Rust closure computes with libtorch: libtorch's tracer records every aten
// operation the closure performs on the given input tensors (and on tensors made from them),
// and the recorded graph is handed back as JSON text (pyrite's IR, read by `ir.rs`):
//
//   {"inputs": [ID, ...], "outputs": [ID, ...],
//    "nodes": [{"op": "aten::mul", "inputs": [ID, ...], "outputs": [{"id": ID, "type": T}], "value": V}]}
//
// where a value's type T is {"tensor": {"shape": [...], "dtype": "float64"}} (shape null when
// unknown), {"int": null}, {"float": null}, {"bool": null}, {"list": null}, {"none": null} or
// {"other": "TYPE"}; `value` is present on prim::Constant nodes only: a number, a bool, a list of
// numbers, null, a string, or {"shape": [...], "dtype": "...", "values": [...]} for a tensor.
//
// While the closure runs, the shim also watches what the tracer cannot see (`Capture` below):
//
// * Host reads. A value that depends on the graph's inputs (a latent site, a param, a noise
//   draw) and is read on the host may steer the closure's control flow or become a number in
//   it, so the recorded graph would hold for the values seen here only. Reads through the
//   dispatcher (`item`, `double_value`, `int64_value`, `f64::try_from`, `equal`, `allclose`,
//   `is_nonzero`) are seen by a RecordFunction callback; reads through a data pointer
//   (`copy_data`, `Vec::try_from`, `data_ptr`, tch's formatting) by a one-shot materialize hook
//   on the storage of every input-dependent tensor, re-armed after each operation that used it.
//   A read outside any operation, and not inside the caller's own checks (the `exempt`
//   callback), is reported and the caller runs eagerly.
// * Host data. A tensor the closure makes without reading its inputs (`Tensor::from`, `zeros`,
//   `arange`, ...) enters the trace as a factory node whose values the tracer never sees
//   (`Tensor::from` is `zeros` plus a memcpy). Its values are taken when an operation first
//   reads it and it becomes a constant of the graph.
//
// Every C++ exception is caught and returned as a message (allocated with malloc, freed by
// pyrite_trace_free); nothing is thrown across the C boundary.

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <mutex>

#include <dlfcn.h>
#include <execinfo.h>
#include <sstream>
#include <string>

#include <unordered_map>
#include <unordered_set>
#include <vector>

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/core/LegacyTypeDispatch.h>
#include <ATen/core/Tensor.h>
#include <ATen/TracerMode.h>
#include <ATen/ops/_local_scalar_dense_ops.h>
#include <ATen/ops/equal_ops.h>
#include <ATen/record_function.h>
#include <c10/core/StorageImpl.h>
#include <c10/core/impl/LocalDispatchKeySet.h>
#include <torch/csrc/jit/frontend/tracer.h>
#include <torch/csrc/jit/ir/ir.h>
#include <torch/csrc/jit/passes/dead_code_elimination.h>
#include <torch/library.h>

namespace {

// Random draws: their values are inputs of a kind (noise), never constants.
bool is_random(const torch::jit::Node* n) {
  if (n->isNondeterministic()) return true;
  static const char* const prefixes[] = {"aten::rand", "aten::normal", "aten::bernoulli", "aten::uniform", "aten::exponential", "aten::multinomial",
                                         "aten::poisson", "aten::_standard_gamma", "aten::binomial", "aten::_sample_dirichlet", "aten::geometric",
                                         "aten::cauchy", "aten::log_normal", "aten::random_"};
  const char* kind = n->kind().toQualString();
  for (const char* p : prefixes) {
    if (std::strncmp(kind, p, std::strlen(p)) == 0) return true;
  }
  return false;
}

// A tensor the closure read that the trace did not make (data, a captured closure's tensors):
// it becomes a constant of the graph, so a later change of it (another tensor in its place, or
// its values changed in place) makes the graph stale.
struct External {
  c10::weak_intrusive_ptr<c10::TensorImpl> impl;
  const void* data;
  int64_t version;
  std::vector<int64_t> sizes, strides;

  explicit External(const at::Tensor& t)
      : impl(t.getIntrusivePtr()), data(t.has_storage() ? t.storage().data() : nullptr), version(t.is_inference() ? -1 : t._version()), sizes(t.sizes().vec()), strides(t.strides().vec()) {}

  bool unchanged() const {
    auto t = impl.lock();
    if (!t) return false;
    const void* now = t->has_storage() ? t->storage().data() : nullptr;
    int64_t now_version = t->is_inference() ? -1 : static_cast<int64_t>(t->version_counter().current_version());
    return now == data && now_version == version && t->sizes().equals(sizes) && t->strides().equals(strides);
  }
};

}  // namespace

// The external tensors of one capture (handed to Rust as an opaque pointer).
struct pyrite_externals {
  std::vector<External> tensors;
};

namespace {

// What one capture watches (see the top of this file). One per thread, alive while the closure
// runs.
struct Capture {
  std::shared_ptr<torch::jit::tracer::TracingState> state;
  // Nonzero while the caller reads values for its own checks (they never steer the result).
  int (*exempt)() = nullptr;
  // Nesting of operations: 0 is the closure's own code.
  int depth = 0;
  // Inside the shim's own bookkeeping (its clones, its comparisons): callbacks do nothing.
  bool busy = false;
  // The first host read seen, empty if none.
  std::string host_read;
  // Graph values that depend on the inputs (or on random draws), and values known not to.
  std::unordered_set<const torch::jit::Value*> dependent, independent;
  // Storages of input-dependent tensors, hooked, each held weakly (so that its address is not
  // reused while it is watched).
  std::unordered_map<const c10::StorageImpl*, c10::weak_intrusive_ptr<c10::StorageImpl>> armed;
  // Armed storages that another owner's hook kept the shim's off: tried again after each
  // operation.
  std::vector<const c10::StorageImpl*> unhooked;
  // Values made without the inputs, with their contents when first read.
  std::vector<std::pair<torch::jit::Value*, at::Tensor>> snapshots;
  std::unordered_map<const torch::jit::Value*, size_t> snapshot_index;
  // Tensors read that the trace did not make, once each.
  std::unique_ptr<pyrite_externals> externals = std::make_unique<pyrite_externals>();
  std::unordered_set<const c10::TensorImpl*> external_set;
};

thread_local Capture* capture = nullptr;

// The shim's own bookkeeping, for a scope: callbacks do nothing meanwhile, and it ends on every
// path (an exception in a clone leaves the watch working).
struct Busy {
  Capture& c;
  explicit Busy(Capture& capture) : c(capture) { c.busy = true; }
  ~Busy() { c.busy = false; }
};

void note_read(Capture& c, const std::string& what) {
  if (c.host_read.empty()) c.host_read = what;
}

bool exempt(const Capture& c) { return c.exempt != nullptr && c.exempt() != 0; }

// The storages whose hook is the shim's and has not fired yet. Hooks fire on any thread (a
// kernel's worker reading in parallel): guarded by a lock. Only these are cleared at the end, so
// that another owner's hook (libtorch's copy-on-write materializer) is never taken off.
std::mutex hooks_lock;
std::unordered_set<const c10::StorageImpl*> hooked;
// The storages whose one-shot hook fired since a capture watching them last re-armed (any
// capture's: each takes its own). Re-arming only these keeps an operation's bookkeeping
// independent of how many storages the capture watches (re-arming all of them made a long
// capture quadratic).
std::vector<const c10::StorageImpl*> fired;
// How many live captures watch each storage (captures on two threads may share a tensor): the
// last one to end takes the hook off.
std::unordered_map<const c10::StorageImpl*, int> watchers;

// The materialize hook: a mutable data pointer was asked of a hooked storage.
void on_data_access(c10::StorageImpl* storage) {
  {
    std::lock_guard<std::mutex> guard(hooks_lock);
    if (hooked.erase(storage) > 0) fired.push_back(storage);
  }
  Capture* c = capture;
  if (c == nullptr || c->busy || c->depth > 0 || exempt(*c)) return;
  note_read(*c, "a data pointer (`copy_data`, `Vec::try_from`, `data_ptr`, formatting)");
}

// Hooks a storage unless a hook is on it: true if the shim's is on it now, false if another
// owner's is.
bool hook(c10::StorageImpl* s) {
  std::lock_guard<std::mutex> guard(hooks_lock);
  if (hooked.count(s) > 0) return true;
  if (s->has_materializer()) return false;
  s->set_materializer(&on_data_access);
  hooked.insert(s);
  return true;
}

void arm(Capture& c, const at::Tensor& t) {
  if (!t.defined() || !t.has_storage()) return;
  c10::StorageImpl* s = t.storage().unsafeGetStorageImpl();
  if (!c.armed.emplace(s, c10::weak_intrusive_ptr<c10::StorageImpl>(t.storage().getWeakStorageImpl())).second) return;
  {
    std::lock_guard<std::mutex> guard(hooks_lock);
    watchers[s] += 1;
  }
  if (!hook(s)) c.unhooked.push_back(s);
}

// Hooks again the storages of this capture whose one-shot hook an operation's kernel used, and
// tries again those another owner's hook kept the shim's off.
void rearm(Capture& c) {
  std::vector<const c10::StorageImpl*> again;
  {
    std::lock_guard<std::mutex> guard(hooks_lock);
    if (fired.empty() && c.unhooked.empty()) return;
    auto mine = std::partition(fired.begin(), fired.end(), [&](const c10::StorageImpl* s) { return c.armed.count(s) == 0; });
    again.assign(mine, fired.end());
    fired.erase(mine, fired.end());
  }
  again.insert(again.end(), c.unhooked.begin(), c.unhooked.end());
  c.unhooked.clear();
  for (const c10::StorageImpl* raw : again) {
    auto s = c.armed.at(raw).lock();
    if (s && !hook(s.get())) c.unhooked.push_back(raw);
  }
}

void disarm(Capture& c) {
  std::lock_guard<std::mutex> guard(hooks_lock);
  // A storage another capture still watches keeps its hook; one this capture could not hook is
  // handed over (through `fired`) for that capture to try again.
  for (const c10::StorageImpl* raw : c.unhooked) {
    if (watchers[raw] > 1) fired.push_back(raw);
  }
  for (auto& [raw, w] : c.armed) {
    auto watched = watchers.find(raw);
    if (watched != watchers.end()) {
      if (--watched->second > 0) continue;
      watchers.erase(watched);
    }
    auto s = w.lock();
    if (s && hooked.erase(s.get()) > 0 && s->has_materializer()) s->clear_materializer();
    // A storage that died meanwhile: its entry goes too.
    hooked.erase(raw);
  }
  // Pending re-arms of the storages no capture watches now.
  fired.erase(std::remove_if(fired.begin(), fired.end(), [&](const c10::StorageImpl* s) { return c.armed.count(s) > 0 && watchers.count(s) == 0; }),
              fired.end());
  c.armed.clear();
  c.unhooked.clear();
}

// Whether a graph value depends on the graph's inputs or on a random draw (memoised: values
// never change). Walked with an explicit stack: a recursion written as a loop makes long chains.
bool value_dependent(Capture& c, torch::jit::Value* root) {
  std::vector<torch::jit::Value*> stack{root};
  while (!stack.empty()) {
    torch::jit::Value* v = stack.back();
    if (c.dependent.count(v) || c.independent.count(v)) {
      stack.pop_back();
      continue;
    }
    torch::jit::Node* n = v->node();
    if (n->kind() == c10::prim::Param || is_random(n)) {
      c.dependent.insert(v);
      stack.pop_back();
      continue;
    }
    bool pending = false, dep = false;
    for (auto* in : n->inputs()) {
      if (c.dependent.count(in)) {
        dep = true;
      } else if (!c.independent.count(in)) {
        stack.push_back(in);
        pending = true;
      }
    }
    if (dep) {
      c.dependent.insert(v);
      stack.pop_back();
    } else if (!pending) {
      c.independent.insert(v);
      stack.pop_back();
    }
  }
  return c.dependent.count(root) > 0;
}

bool traced_dependent(Capture& c, const at::Tensor& t) {
  if (!t.defined() || !c.state->hasValue(t)) return false;
  return value_dependent(c, c.state->getValue(t));
}

template <typename F>
void for_each_tensor(const c10::IValue& v, F f) {
  if (v.isTensor()) {
    f(v.toTensor());
  } else if (v.isTensorList()) {
    for (const at::Tensor& t : v.toTensorVector()) f(t);
  } else if (v.isList()) {
    for (const c10::IValue& e : v.toListRef()) {
      if (e.isTensor()) f(e.toTensor());
    }
  } else if (v.isOptionalTensorList()) {
    for (const auto& e : v.toOptionalTensorList()) {
      std::optional<at::Tensor> t = e;
      if (t.has_value()) f(*t);
    }
  }
}

// A value the closure made without its inputs, read by an operation: its contents now are its
// contents as a constant (compared again at later reads: a change made on the host in between
// cannot be one constant).
void snapshot_input(Capture& c, const at::Tensor& t) {
  if (!t.defined()) return;
  if (!c.state->hasValue(t)) {
    if (c.external_set.insert(t.unsafeGetTensorImpl()).second) c.externals->tensors.emplace_back(t);
    return;
  }
  torch::jit::Value* v = c.state->getValue(t);
  auto kind = v->node()->kind();
  if (kind == c10::prim::Constant || kind == c10::prim::Param || value_dependent(c, v)) return;
  c10::impl::ExcludeDispatchKeyGuard no_trace(c10::DispatchKey::Tracer);
  at::AutoDispatchBelowADInplaceOrView no_grad;
  auto found = c.snapshot_index.find(v);
  if (found == c.snapshot_index.end()) {
    c.snapshot_index.emplace(v, c.snapshots.size());
    c.snapshots.emplace_back(v, t.detach().clone());
  } else if (!at::equal(c.snapshots[found->second].second, t.detach())) {
    note_read(c, "a tensor made in the model and changed on the host between two reads");
  }
}

// Whether libtorch's printer (`at::print`, behind tch's `print` and `to_string`) is on the
// stack: it converts the tensor with `to` and reads it through a const pointer, which no hook
// sees. Each return address is looked up once per thread: `dladdr` searches the symbol tables
// (`_dl_addr` was 23% of perf's samples over twelve short runs of small posteriordb models).
bool called_from_print() {
  thread_local std::unordered_map<void*, bool> in_print;
  void* frames[48];
  int n = backtrace(frames, 48);
  for (int i = 0; i < n; ++i) {
    auto known = in_print.find(frames[i]);
    if (known == in_print.end()) {
      Dl_info info;
      bool print = dladdr(frames[i], &info) != 0 && info.dli_sname != nullptr && std::strstr(info.dli_sname, "_ZN2at5print") != nullptr;
      known = in_print.emplace(frames[i], print).first;
    }
    if (known->second) return true;
  }
  return false;
}

std::unique_ptr<at::ObserverContext> on_op_start(const at::RecordFunction& fn) {
  Capture* c = capture;
  if (c == nullptr || c->busy) return nullptr;
  c->depth += 1;
  Busy busy(*c);
  if (c->depth == 1) {
    bool dependent_input = false;
    for (const c10::IValue& v : fn.inputs()) {
      for_each_tensor(v, [&](const at::Tensor& t) {
        snapshot_input(*c, t);
        dependent_input = dependent_input || traced_dependent(*c, t);
      });
    }
    if (dependent_input && std::strcmp(fn.name(), "aten::to") == 0 && !exempt(*c) && called_from_print()) {
      note_read(*c, "`print` (libtorch's printer)");
    }
  }
  return nullptr;
}

void on_op_end(const at::RecordFunction& fn, at::ObserverContext*) {
  Capture* c = capture;
  if (c == nullptr || c->busy) return;
  c->depth -= 1;
  if (c->depth != 0) return;
  Busy busy(*c);
  for (const c10::IValue& v : fn.outputs()) {
    for_each_tensor(v, [&](const at::Tensor& t) {
      if (traced_dependent(*c, t)) arm(*c, t);
    });
  }
  rearm(*c);
}

// The operations that hand a tensor's values to the host through the dispatcher: `item` (and
// so `double_value`, `int64_value`, `f64::try_from`, `is_nonzero`, `allclose`) calls
// `_local_scalar_dense`; `equal` decides a bool. Their kernels at the tracer's dispatch key (in
// the dispatch only while a trace is recorded) note a read of an input-dependent value, then
// run the operation below the tracer.
void watch_read(const char* what, const at::Tensor& t) {
  Capture* c = capture;
  if (c == nullptr || c->busy || exempt(*c)) return;
  Busy busy(*c);
  if (traced_dependent(*c, t)) note_read(*c, what);
}

at::Scalar watch_local_scalar_dense(const at::Tensor& self) {
  watch_read("`item` (`double_value`, `int64_value`, `f64::try_from`, `bool::try_from`, `allclose`)", self);
  at::tracer::impl::NoTracerDispatchMode below_tracer;
  return at::_ops::_local_scalar_dense::call(self);
}

bool watch_equal(const at::Tensor& self, const at::Tensor& other) {
  watch_read("`equal`", self);
  watch_read("`equal`", other);
  at::tracer::impl::NoTracerDispatchMode below_tracer;
  return at::_ops::equal::call(self, other);
}

// Registered at the first capture (not when the program starts), without libtorch's note that
// a kernel at the tracer's key was overridden (the tracer's own records nothing for these).
void watch_reads_once() {
  static std::once_flag once;
  std::call_once(once, [] {
    struct Quiet : c10::WarningHandler {
      void process(const c10::Warning&) override {}
    } quiet;
    c10::WarningUtils::WarningHandlerGuard guard(&quiet);
    static auto* library = new torch::Library(torch::Library::IMPL, "aten", c10::DispatchKey::Tracer, __FILE__, __LINE__);
    library->impl("_local_scalar_dense", TORCH_FN(watch_local_scalar_dense));
    library->impl("equal", TORCH_FN(watch_equal));
  });
}

// Replaces each value made without the inputs by a constant of its contents.
void fold_host_data(Capture& c) {
  auto& graph = *c.state->graph;
  for (auto& [value, contents] : c.snapshots) {
    torch::jit::WithInsertPoint at_start(graph.block()->nodes().front());
    torch::jit::Value* constant = graph.insertConstant(contents);
    constant->setType(value->type());
    value->replaceAllUsesWith(constant);
  }
  // No dead-code elimination: a draw nothing reads (an initial value made at every call) still
  // advances the generator, and the compiled step must draw it too (the lowering skips what
  // else is dead).
}

char* copy_string(const std::string& s) {
  char* out = static_cast<char*>(std::malloc(s.size() + 1));
  if (out != nullptr) {
    std::memcpy(out, s.c_str(), s.size() + 1);
  }
  return out;
}

std::string dtype_name(c10::ScalarType t) {
  switch (t) {
    case c10::ScalarType::Float: return "float32";
    case c10::ScalarType::Double: return "float64";
    case c10::ScalarType::Long: return "int64";
    case c10::ScalarType::Int: return "int32";
    case c10::ScalarType::Bool: return "bool";
    default: return std::string("other:") + c10::toString(t);
  }
}

void write_number(std::ostringstream& os, double x) {
  if (std::isfinite(x)) {
    os.precision(17);
    os << x;
  } else if (std::isnan(x)) {
    os << "\"nan\"";
  } else {
    os << (x > 0 ? "\"inf\"" : "\"-inf\"");
  }
}

void write_string(std::ostringstream& os, const std::string& s) {
  os << '"';
  for (char c : s) {
    if (c == '"' || c == '\\') os << '\\';
    if (static_cast<unsigned char>(c) < 0x20) {
      os << ' ';
      continue;
    }
    os << c;
  }
  os << '"';
}

void write_type(std::ostringstream& os, const torch::jit::Value* v) {
  const auto& type = v->type();
  if (auto t = type->cast<c10::TensorType>()) {
    os << "{\"tensor\": {\"shape\": ";
    auto sizes = t->sizes().concrete_sizes();
    if (sizes) {
      os << '[';
      for (size_t i = 0; i < sizes->size(); ++i) os << (i ? "," : "") << (*sizes)[i];
      os << ']';
    } else {
      os << "null";
    }
    os << ", \"dtype\": ";
    auto st = t->scalarType();
    if (st) {
      write_string(os, dtype_name(*st));
    } else {
      os << "null";
    }
    os << "}}";
  } else if (type->kind() == c10::TypeKind::IntType) {
    os << "{\"int\": null}";
  } else if (type->kind() == c10::TypeKind::FloatType) {
    os << "{\"float\": null}";
  } else if (type->kind() == c10::TypeKind::BoolType) {
    os << "{\"bool\": null}";
  } else if (type->kind() == c10::TypeKind::ListType) {
    os << "{\"list\": null}";
  } else if (type->kind() == c10::TypeKind::NoneType) {
    os << "{\"none\": null}";
  } else {
    os << "{\"other\": ";
    write_string(os, type->str());
    os << "}";
  }
}

void write_tensor(std::ostringstream& os, const at::Tensor& t) {
  auto cpu = t.detach().to(at::kCPU).to(at::kDouble).contiguous();
  os << "{\"shape\": [";
  for (int64_t i = 0; i < t.dim(); ++i) os << (i ? "," : "") << t.size(i);
  os << "], \"dtype\": ";
  write_string(os, dtype_name(t.scalar_type()));
  os << ", \"values\": [";
  const double* p = cpu.data_ptr<double>();
  for (int64_t i = 0; i < cpu.numel(); ++i) {
    if (i) os << ',';
    write_number(os, p[i]);
  }
  os << "]}";
}

void write_ivalue(std::ostringstream& os, const c10::IValue& v) {
  if (v.isNone()) {
    os << "null";
  } else if (v.isBool()) {
    os << (v.toBool() ? "true" : "false");
  } else if (v.isInt()) {
    os << v.toInt();
  } else if (v.isDouble()) {
    write_number(os, v.toDouble());
  } else if (v.isIntList()) {
    os << '[';
    auto l = v.toIntVector();
    for (size_t i = 0; i < l.size(); ++i) os << (i ? "," : "") << l[i];
    os << ']';
  } else if (v.isDoubleList()) {
    os << '[';
    auto l = v.toDoubleVector();
    for (size_t i = 0; i < l.size(); ++i) {
      if (i) os << ',';
      write_number(os, l[i]);
    }
    os << ']';
  } else if (v.isTensor()) {
    write_tensor(os, v.toTensor());
  } else if (v.isString()) {
    write_string(os, v.toStringRef());
  } else if (v.isDevice()) {
    write_string(os, v.toDevice().str());
  } else {
    os << "{\"unsupported\": ";
    write_string(os, v.tagKind());
    os << "}";
  }
}

std::string graph_json(const torch::jit::Graph& g) {
  std::ostringstream os;
  os << "{\"inputs\": [";
  for (size_t i = 0; i < g.inputs().size(); ++i) os << (i ? "," : "") << g.inputs()[i]->unique();
  os << "], \"outputs\": [";
  for (size_t i = 0; i < g.outputs().size(); ++i) os << (i ? "," : "") << g.outputs()[i]->unique();
  os << "], \"input_types\": [";
  for (size_t i = 0; i < g.inputs().size(); ++i) {
    if (i) os << ',';
    write_type(os, g.inputs()[i]);
  }
  os << "], \"nodes\": [";
  bool first = true;
  for (const torch::jit::Node* n : g.nodes()) {
    if (!first) os << ",\n";
    first = false;
    os << "{\"op\": ";
    write_string(os, n->kind().toQualString());
    os << ", \"inputs\": [";
    for (size_t i = 0; i < n->inputs().size(); ++i) os << (i ? "," : "") << n->inputs()[i]->unique();
    os << "], \"outputs\": [";
    for (size_t i = 0; i < n->outputs().size(); ++i) {
      if (i) os << ',';
      os << "{\"id\": " << n->outputs()[i]->unique() << ", \"type\": ";
      write_type(os, n->outputs()[i]);
      os << '}';
    }
    os << ']';
    if (n->kind() == c10::prim::Constant) {
      os << ", \"value\": ";
      auto v = torch::jit::toIValue(n->output());
      if (v) {
        write_ivalue(os, *v);
      } else {
        os << "null";
      }
    }
    if (!n->blocks().empty()) {
      os << ", \"blocks\": " << n->blocks().size();
    }
    os << '}';
  }
  os << "]}";
  return os.str();
}

}  // namespace

extern "C" {

// The closure being traced: returns 0 and sets `*output` to the tensor it computed, or nonzero
// (its error is kept on the Rust side).
typedef int (*pyrite_traced_fn)(void* context, at::Tensor** output);

// Traces `f` with `inputs` as the graph's inputs; on success returns 0 and sets `*json`.
// Returns 1 with `*message` set if libtorch failed, 2 if `f` failed.
//
// `exempt` (may be null) returns nonzero while the closure reads values for its own checks;
// `*host_read` is set (malloc'ed) to what the closure read on the host of a value that depends
// on the inputs, or left null; `*externals` (freed by pyrite_externals_free) to the tensors the
// closure read that the trace did not make.
int pyrite_trace(at::Tensor** inputs, int n_inputs, pyrite_traced_fn f, void* context, int (*exempt)(), char** json, char** host_read,
                 pyrite_externals** externals, char** message) {
  *json = nullptr;
  *externals = nullptr;
  *host_read = nullptr;
  *message = nullptr;
  try {
    if (torch::jit::tracer::isTracing() || capture != nullptr) {
      *message = copy_string("a trace is already being recorded on this thread");
      return 1;
    }
    watch_reads_once();
    auto state = std::make_shared<torch::jit::tracer::TracingState>();
    Capture watch;
    watch.state = state;
    watch.exempt = exempt;
    // Ends the watch on every path: callbacks removed, hooks taken off the storages.
    struct Unwatch {
      Capture& c;
      at::CallbackHandle handle;
      ~Unwatch() {
        at::removeCallback(handle);
        capture = nullptr;
        disarm(c);
      }
    };
    torch::jit::tracer::setTracingState(state);
    capture = &watch;
    Unwatch unwatch{watch, at::addThreadLocalCallback(at::RecordFunctionCallback(&on_op_start, &on_op_end)
                                                           .needsInputs(true)
                                                           .needsOutputs(true)
                                                           .scopes({at::RecordScope::FUNCTION}))};
    try {
      for (int i = 0; i < n_inputs; ++i) {
        auto value = state->graph->addInput();
        value->setType(c10::TensorType::create(*inputs[i]));
        state->setValue(*inputs[i], value);
        watch.dependent.insert(value);
        arm(watch, *inputs[i]);
      }
      at::Tensor* output = nullptr;
      int rc = f(context, &output);
      if (rc != 0 || output == nullptr) {
        torch::jit::tracer::abandon();
        return 2;
      }
      watch.busy = true;
      state->graph->registerOutput(state->getOutput(*output, 0));
      torch::jit::tracer::setTracingState(nullptr);
    } catch (...) {
      torch::jit::tracer::abandon();
      throw;
    }
    if (!watch.host_read.empty()) {
      *host_read = copy_string(watch.host_read);
    }
    fold_host_data(watch);
    *json = copy_string(graph_json(*state->graph));
    *externals = watch.externals.release();
    return 0;
  } catch (const std::exception& e) {
    *message = copy_string(e.what());
  } catch (...) {
    *message = copy_string("an unknown C++ exception");
  }
  return 1;
}

void pyrite_trace_free(char* s) { std::free(s); }

// 1 if every external tensor of a capture is still the one it read, with the same storage,
// version, sizes and strides; 0 otherwise.
int pyrite_externals_unchanged(const pyrite_externals* e) {
  for (const External& t : e->tensors) {
    if (!t.unchanged()) return 0;
  }
  return 1;
}

size_t pyrite_externals_len(const pyrite_externals* e) { return e->tensors.size(); }

void pyrite_externals_free(pyrite_externals* e) { delete e; }

// Watches again the storages whose one-shot hooks a check's reads used (nothing outside a
// capture).
void pyrite_trace_rearm() {
  Capture* c = capture;
  if (c == nullptr || c->busy) return;
  Busy busy(*c);
  rearm(*c);
}

// The state of libtorch's default CPU generator, as a new tensor; 0 on success.
int pyrite_rng_get_state(at::Tensor** out, char** message) {
  *out = nullptr;
  *message = nullptr;
  try {
    auto gen = at::detail::getDefaultCPUGenerator();
    std::lock_guard<std::mutex> lock(gen.mutex());
    *out = new at::Tensor(gen.get_state());
    return 0;
  } catch (const std::exception& e) {
    *message = copy_string(e.what());
  } catch (...) {
    *message = copy_string("an unknown C++ exception");
  }
  return 1;
}

// Restores a state taken by pyrite_rng_get_state; 0 on success.
int pyrite_rng_set_state(const at::Tensor* state, char** message) {
  *message = nullptr;
  try {
    auto gen = at::detail::getDefaultCPUGenerator();
    std::lock_guard<std::mutex> lock(gen.mutex());
    gen.set_state(*state);
    return 0;
  } catch (const std::exception& e) {
    *message = copy_string(e.what());
  } catch (...) {
    *message = copy_string("an unknown C++ exception");
  }
  return 1;
}

}  // extern "C"


