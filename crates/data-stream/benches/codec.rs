//! Placeholder put here by the lead so the workspace manifest loads; the data-stream
//! engineer replaces it with the real codec bench.
fn main() {}
