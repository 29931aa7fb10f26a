//! Replays every file of fuzz/corpus/TARGET/ through the target's body on stable, so
//! `cargo xtask test` catches regressions without cargo-fuzz.

use std::path::Path;

#[test]
fn every_bin_has_a_body_and_a_corpus() {
    let manifest =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml")).unwrap();
    let bins = manifest.lines().filter(|l| l.trim() == "[[bin]]").count();
    assert_eq!(
        bins,
        fuzz::targets().len(),
        "each [[bin]] in fuzz/Cargo.toml needs an entry in fuzz::targets()"
    );
    for (name, _) in fuzz::targets() {
        assert!(
            manifest.contains(&format!("name = \"{name}\"")),
            "target {name} has no [[bin]]"
        );
        let corpus = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("corpus")
            .join(name);
        assert!(
            corpus.is_dir(),
            "target {name} has no corpus folder {}",
            corpus.display()
        );
    }
}

#[test]
fn corpus_replays_without_panic() {
    let mut replayed = 0;
    for (name, body) in fuzz::targets() {
        let corpus = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("corpus")
            .join(name);
        for entry in std::fs::read_dir(&corpus).into_iter().flatten().flatten() {
            let data = std::fs::read(entry.path()).unwrap();
            body(&data);
            replayed += 1;
        }
    }
    eprintln!(
        "replayed {replayed} corpus files over {} targets",
        fuzz::targets().len()
    );
}
