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
// Every C++ exception is caught and returned as a message (allocated with malloc, freed by
// pyrite_trace_free); nothing is thrown across the C boundary.

#include <cstdlib>
#include <cstring>
#include <exception>
#include <sstream>
#include <string>

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/core/Tensor.h>
#include <torch/csrc/jit/frontend/tracer.h>
#include <torch/csrc/jit/ir/ir.h>
#include <torch/csrc/jit/passes/dead_code_elimination.h>

namespace {

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
int pyrite_trace(at::Tensor** inputs, int n_inputs, pyrite_traced_fn f, void* context, char** json, char** message) {
  *json = nullptr;
  *message = nullptr;
  try {
    if (torch::jit::tracer::isTracing()) {
      *message = copy_string("a trace is already being recorded on this thread");
      return 1;
    }
    auto state = std::make_shared<torch::jit::tracer::TracingState>();
    torch::jit::tracer::setTracingState(state);
    try {
      for (int i = 0; i < n_inputs; ++i) {
        auto value = state->graph->addInput();
        value->setType(c10::TensorType::create(*inputs[i]));
        state->setValue(*inputs[i], value);
      }
      at::Tensor* output = nullptr;
      int rc = f(context, &output);
      if (rc != 0 || output == nullptr) {
        torch::jit::tracer::abandon();
        return 2;
      }
      state->graph->registerOutput(state->getOutput(*output, 0));
      torch::jit::tracer::setTracingState(nullptr);
    } catch (...) {
      torch::jit::tracer::abandon();
      throw;
    }
    // No dead-code elimination here: a host read (`item`) whose value only steered the
    // closure's control flow must stay visible to the caller, who refuses such graphs.
    *json = copy_string(graph_json(*state->graph));
    return 0;
  } catch (const std::exception& e) {
    *message = copy_string(e.what());
  } catch (...) {
    *message = copy_string("an unknown C++ exception");
  }
  return 1;
}

void pyrite_trace_free(char* s) { std::free(s); }

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
