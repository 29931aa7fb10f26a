//! Placeholder put here by the lead so the workspace manifest loads; the data-stream
//! engineer replaces it with the real `datastream` example.
fn main() {
    eprintln!("datastream: not built yet");
    std::process::exit(2);
}
