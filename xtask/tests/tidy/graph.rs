//! Strongly connected components of a small directed graph (Tarjan), to find cycles.

use std::collections::BTreeMap;

/// A directed graph over names, with the edges kept in a stable order.
pub type Graph = BTreeMap<String, Vec<String>>;

/// Adds the edge `from -> to` once (nodes are created as needed).
pub fn add_edge(graph: &mut Graph, from: &str, to: &str) {
    graph.entry(to.to_owned()).or_default();
    let edges = graph.entry(from.to_owned()).or_default();
    if !edges.iter().any(|e| e == to) {
        edges.push(to.to_owned());
    }
}

/// Every cycle of `graph` as the sorted nodes of one strongly connected component of two or
/// more nodes, or of one node with an edge to itself. Sorted, so the result is stable.
pub fn cycles(graph: &Graph) -> Vec<Vec<String>> {
    struct State<'g> {
        graph: &'g Graph,
        index: BTreeMap<&'g str, usize>,
        low: BTreeMap<&'g str, usize>,
        stack: Vec<&'g str>,
        found: Vec<Vec<String>>,
    }
    fn visit<'g>(s: &mut State<'g>, node: &'g str) {
        let i = s.index.len();
        s.index.insert(node, i);
        s.low.insert(node, i);
        s.stack.push(node);
        for next in s.graph.get(node).into_iter().flatten() {
            let next = next.as_str();
            if !s.index.contains_key(next) {
                visit(s, next);
                let l = s.low[node].min(s.low[next]);
                s.low.insert(node, l);
            } else if s.stack.contains(&next) {
                let l = s.low[node].min(s.index[next]);
                s.low.insert(node, l);
            }
        }
        if s.low[node] == s.index[node] {
            let mut component = Vec::new();
            while let Some(top) = s.stack.pop() {
                component.push(top.to_owned());
                if top == node {
                    break;
                }
            }
            let self_loop = s.graph[node].iter().any(|e| e == node);
            if component.len() > 1 || self_loop {
                component.sort();
                s.found.push(component);
            }
        }
    }
    let mut s = State {
        graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        found: Vec::new(),
    };
    for node in graph.keys() {
        if !s.index.contains_key(node.as_str()) {
            visit(&mut s, node);
        }
    }
    s.found.sort();
    s.found
}

#[test]
fn finds_cycles_in_a_hand_made_graph() {
    let mut g = Graph::new();
    // a -> b -> c -> a is one cycle; d -> e is not; f -> f is one; c -> d joins nothing.
    for (from, to) in [
        ("a", "b"),
        ("b", "c"),
        ("c", "a"),
        ("c", "d"),
        ("d", "e"),
        ("f", "f"),
    ] {
        add_edge(&mut g, from, to);
    }
    assert_eq!(cycles(&g), vec![vec!["a", "b", "c"], vec!["f"]]);
    let mut acyclic = Graph::new();
    for (from, to) in [("x", "y"), ("y", "z"), ("x", "z")] {
        add_edge(&mut acyclic, from, to);
    }
    assert!(cycles(&acyclic).is_empty());
}
