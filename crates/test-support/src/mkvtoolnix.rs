//! mkvtoolnix (the Matroska authors' libebml and libmatroska) reading a Matroska or WebM
//! file. Peer: `mkvmerge` (package `mkvtoolnix`, which also has `mkvinfo`).

use std::path::Path;
use std::process::{Command, Stdio};

use serde_json::Value;

/// `mkvmerge -J`: the file's identification, after checking mkvmerge recognised and
/// supports it and reported no error or warning.
pub fn identify(path: &Path) -> Value {
    let out = Command::new("mkvmerge")
        .arg("-J")
        .arg(path)
        .stdin(Stdio::null())
        .output()
        .expect("run mkvmerge");
    let json: Value = serde_json::from_slice(&out.stdout).expect("mkvmerge printed JSON");
    let container = &json["container"];
    assert!(
        container["recognized"] == true && container["supported"] == true,
        "mkvmerge -J {}: {json}",
        path.display()
    );
    for list in ["errors", "warnings"] {
        let empty = json[list].as_array().is_some_and(Vec::is_empty);
        assert!(
            empty,
            "mkvmerge -J {}: {list}: {}",
            path.display(),
            json[list]
        );
    }
    json
}

/// `mkvinfo -a`: every element of the file, one per line (`|+ Cluster`, `| + Cue point`).
pub fn info(path: &Path) -> String {
    let out = Command::new("mkvinfo")
        .arg("-a")
        .arg(path)
        .stdin(Stdio::null())
        .output()
        .expect("run mkvinfo");
    assert!(
        out.status.success(),
        "mkvinfo -a {}: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// How many elements called `name` (as `mkvinfo` names them: "Cluster", "Cue point") an
/// [`info`] shows.
pub fn count(info: &str, name: &str) -> usize {
    info.lines()
        .filter(|l| l.trim_start_matches(['|', ' ']).strip_prefix("+ ") == Some(name))
        .count()
}

/// The `DocType` an [`info`] shows ("matroska", "webm").
pub fn doc_type(info: &str) -> &str {
    info.lines()
        .find_map(|l| l.split_once("+ Document type: "))
        .map_or("", |(_, t)| t.trim())
}
