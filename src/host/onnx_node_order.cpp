#include "host/onnx_node_order.h"

#include <queue>
#include <string>
#include <unordered_map>
#include <unordered_set>

#include "common/error.h"

namespace teeinfer {
namespace {

// The names a subgraph reads from the scopes around it (used and not defined inside).
void free_names(const onnx::GraphProto& g, std::unordered_set<std::string>& out, int depth) {
  if (depth > kMaxSubgraphDepth) throw Error(ErrorCode::kBadModel, "subgraphs are nested too deeply");
  std::unordered_set<std::string> defined, used;
  for (const auto& t : g.initializer()) defined.insert(t.name());
  for (const auto& i : g.input()) defined.insert(i.name());
  for (const auto& n : g.node()) {
    for (const std::string& o : n.output()) defined.insert(o);
    for (const std::string& i : n.input())
      if (!i.empty()) used.insert(i);
    for (const auto& a : n.attribute())
      if (a.type() == onnx::AttributeProto::GRAPH) free_names(a.g(), used, depth + 1);
  }
  for (const auto& o : g.output()) used.insert(o.name());
  for (const std::string& u : used)
    if (!defined.count(u)) out.insert(u);
}

// A node's inputs: the listed ones, and what its subgraphs read from outside them.
std::vector<std::string> all_inputs(const onnx::NodeProto& node) {
  std::vector<std::string> in(node.input().begin(), node.input().end());
  std::unordered_set<std::string> implicit;
  for (const auto& a : node.attribute())
    if (a.type() == onnx::AttributeProto::GRAPH) free_names(a.g(), implicit, 1);
  in.insert(in.end(), implicit.begin(), implicit.end());
  return in;
}

}  // namespace

std::vector<const onnx::NodeProto*> topological_order(const onnx::GraphProto& graph) {
  const int n = graph.node_size();
  std::unordered_map<std::string, int> producer;  // the first node that outputs a name
  for (int i = 0; i < n; ++i)
    for (const std::string& out : graph.node(i).output())
      if (!out.empty()) producer.emplace(out, i);

  std::vector<int> waiting_on(static_cast<size_t>(n), 0);  // producers not yet placed
  std::vector<std::vector<int>> consumers(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i)
    for (const std::string& in : all_inputs(graph.node(i))) {
      auto p = producer.find(in);
      if (in.empty() || p == producer.end() || p->second == i) continue;  // (a self-loop: the importer reports it)
      ++waiting_on[static_cast<size_t>(i)];
      consumers[static_cast<size_t>(p->second)].push_back(i);
    }

  // Kahn's algorithm, always taking the ready node listed first: a sorted graph keeps its order.
  std::priority_queue<int, std::vector<int>, std::greater<>> ready;
  for (int i = 0; i < n; ++i)
    if (waiting_on[static_cast<size_t>(i)] == 0) ready.push(i);
  std::vector<const onnx::NodeProto*> order;
  order.reserve(static_cast<size_t>(n));
  while (!ready.empty()) {
    int i = ready.top();
    ready.pop();
    order.push_back(&graph.node(i));
    for (int c : consumers[static_cast<size_t>(i)])
      if (--waiting_on[static_cast<size_t>(c)] == 0) ready.push(c);
  }
  if (static_cast<int>(order.size()) != n)
    for (int i = 0; i < n; ++i)
      if (waiting_on[static_cast<size_t>(i)] > 0) {
        const onnx::NodeProto& node = graph.node(i);
        throw Error(ErrorCode::kBadModel, node.op_type() + " node '" + node.name() +
                                              "': its inputs depend on its own output (the graph has a cycle)");
      }
  return order;
}

}  // namespace teeinfer
