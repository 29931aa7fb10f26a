//! The module references of Rust source, read without a Rust parser: comments and
//! literals are blanked, `#[cfg(test)] mod … { … }` blocks dropped, then every
//! `crate::…` and `super::…` path (grouped `use` trees included) is collected.

/// `src` with comments, string, byte-string and char literals replaced by spaces (newlines
/// kept, so line numbers stay), and lifetimes left alone.
pub fn strip(src: &str) -> String {
    let b = src.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let blank = |out: &mut Vec<u8>, bytes: &[u8]| {
        out.extend(bytes.iter().map(|&c| if c == b'\n' { b'\n' } else { b' ' }));
    };
    let mut i = 0;
    while i < b.len() {
        let rest = &b[i..];
        let end = if rest.starts_with(b"//") {
            rest.iter().position(|&c| c == b'\n').unwrap_or(rest.len())
        } else if rest.starts_with(b"/*") {
            let (mut depth, mut j) = (0usize, 0);
            while j < rest.len() {
                if rest[j..].starts_with(b"/*") {
                    depth += 1;
                    j += 2;
                } else if rest[j..].starts_with(b"*/") {
                    depth -= 1;
                    j += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    j += 1;
                }
            }
            j
        } else if let Some(len) = raw_string_len(rest, i > 0 && is_ident(b[i - 1])) {
            len
        } else if rest[0] == b'"' {
            let mut j = 1;
            while j < rest.len() && rest[j] != b'"' {
                j += if rest[j] == b'\\' { 2 } else { 1 };
            }
            (j + 1).min(rest.len())
        } else if rest[0] == b'\'' {
            // A char literal ('x', '\n', '\u{..}') or a lifetime ('a) which stays.
            if rest.get(1) == Some(&b'\\') {
                rest[2..]
                    .iter()
                    .position(|&c| c == b'\'')
                    .map_or(1, |p| p + 3)
            } else {
                let ch = std::str::from_utf8(&rest[1..])
                    .ok()
                    .or_else(|| std::str::from_utf8(&rest[1..rest.len().min(5)]).ok());
                match ch.and_then(|s| s.chars().next()) {
                    Some(c) if rest.get(1 + c.len_utf8()) == Some(&b'\'') => 2 + c.len_utf8(),
                    _ => 0,
                }
            }
        } else {
            0
        };
        if end == 0 {
            out.push(b[i]);
            i += 1;
        } else {
            blank(&mut out, &rest[..end]);
            i += end;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn is_ident(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

/// The length of a raw (byte) string literal starting `rest`: `r"…"`, `br#"…"#`.
fn raw_string_len(rest: &[u8], after_ident: bool) -> Option<usize> {
    if after_ident {
        return None;
    }
    let start = if rest.starts_with(b"br") {
        2
    } else if rest.starts_with(b"r") {
        1
    } else {
        return None;
    };
    let hashes = rest[start..].iter().take_while(|&&c| c == b'#').count();
    if rest.get(start + hashes) != Some(&b'"') {
        return None;
    }
    let mut close = vec![b'"'];
    close.extend(std::iter::repeat_n(b'#', hashes));
    let body = start + hashes + 1;
    let found = rest[body..]
        .windows(close.len())
        .position(|w| w == close.as_slice())?;
    Some(body + found + close.len())
}

/// Stripped source without its `#[cfg(test)] mod name { … }` blocks, and the names of
/// test-only file modules it declares (`#[cfg(test)] [#[path = "…"]] mod name;`), which
/// the caller skips (a `#[path]` is returned as its file name, else the module name + ".rs").
pub fn without_tests(raw: &str) -> (String, Vec<String>) {
    let stripped = strip(raw);
    let mut out = stripped.clone().into_bytes();
    let mut test_files = Vec::new();
    let mut from = 0;
    while let Some(found) = stripped[from..].find("#[cfg(test)]") {
        let at = from + found;
        from = at + 1;
        // Skip further attributes (their strings are blank in `stripped`: read `raw`).
        let mut j = at + "#[cfg(test)]".len();
        let mut path_attr = None;
        loop {
            let rest = &stripped[j..];
            let trimmed = rest.trim_start();
            j += rest.len() - trimmed.len();
            if trimmed.starts_with("#[") {
                let close = trimmed.find(']').map_or(trimmed.len(), |p| p + 1);
                let attr = &raw[j..j + close];
                if let Some(p) = attr
                    .strip_prefix("#[path")
                    .and_then(|a| a.split('"').nth(1))
                {
                    path_attr = Some(p.to_owned());
                }
                j += close;
            } else {
                break;
            }
        }
        let rest = stripped[j..].trim_start_matches(|c: char| c.is_whitespace());
        let rest = rest.strip_prefix("pub(crate) ").unwrap_or(rest);
        let Some(decl) = rest.strip_prefix("mod ") else {
            continue;
        };
        let name: String = decl
            .trim_start()
            .chars()
            .take_while(|&c| c.is_alphanumeric() || c == '_')
            .collect();
        let after = decl.trim_start()[name.len()..].trim_start();
        if after.starts_with(';') {
            test_files.push(path_attr.unwrap_or(format!("{name}.rs")));
        } else if after.starts_with('{') {
            let open = stripped.len() - after.len();
            let mut depth = 0usize;
            let mut end = stripped.len();
            for (k, c) in stripped[open..].char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' => {
                        depth -= 1;
                        if depth == 0 {
                            end = open + k + 1;
                            break;
                        }
                    }
                    _ => {}
                }
            }
            for byte in &mut out[at..end] {
                if *byte != b'\n' {
                    *byte = b' ';
                }
            }
        }
    }
    (String::from_utf8_lossy(&out).into_owned(), test_files)
}

/// Every path that starts with `crate::` or `super::` in stripped source, as its leading
/// keyword (`crate` or one `super` per level) and the segments after it, with grouped `use`
/// trees expanded (`crate::{a, b::c}` gives `[a]` and `[b, c]`). `$crate` is not counted.
pub fn paths(stripped: &str) -> Vec<(usize, Vec<String>)> {
    let b = stripped.as_bytes();
    let mut found = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let starts = (b[i..].starts_with(b"crate") || b[i..].starts_with(b"super"))
            && (i == 0 || !(is_ident(b[i - 1]) || b[i - 1] == b'$' || b[i - 1] == b':'));
        if !starts {
            i += 1;
            continue;
        }
        // `supers` = 0 for crate::, n for n leading super::.
        let mut supers = 0;
        let mut j = i;
        let mut is_crate = false;
        loop {
            let rest = &stripped[j..];
            if let Some(r) = rest.strip_prefix("crate") {
                if supers == 0 && r.trim_start().starts_with("::") && !is_crate {
                    is_crate = true;
                    j += 5;
                } else {
                    break;
                }
            } else if let Some(r) = rest.strip_prefix("super") {
                if !is_crate && r.trim_start().starts_with("::") {
                    supers += 1;
                    j += 5;
                } else {
                    break;
                }
            } else {
                break;
            }
            let r = &stripped[j..];
            j += r.len() - r.trim_start().len() + 2;
            let r = &stripped[j..];
            j += r.len() - r.trim_start().len();
        }
        if is_crate || supers > 0 {
            let mut trees = Vec::new();
            let used = use_tree(&stripped[j..], &mut Vec::new(), &mut trees);
            for t in trees {
                found.push((supers, t));
            }
            i = j + used.max(1);
        } else {
            i += 5;
        }
    }
    found
}

/// Reads one use tree (or plain path) at the start of `s`; pushes every full path; returns
/// the bytes consumed.
fn use_tree(s: &str, prefix: &mut Vec<String>, out: &mut Vec<Vec<String>>) -> usize {
    let mut pos = 0;
    let depth = prefix.len();
    let mut grouped = false;
    loop {
        let rest = &s[pos..];
        pos += rest.len() - rest.trim_start().len();
        let rest = &s[pos..];
        if let Some(inner) = rest.strip_prefix('{') {
            pos += 1;
            let mut k = 0;
            loop {
                k += use_tree(&inner[k..], prefix, out);
                let r = &inner[k..];
                k += r.len() - r.trim_start().len();
                match inner[k..].chars().next() {
                    Some(',') => k += 1,
                    Some('}') => {
                        k += 1;
                        break;
                    }
                    _ => break,
                }
            }
            pos += k;
            grouped = true;
            break;
        }
        let ident: String = rest
            .chars()
            .take_while(|&c| c.is_alphanumeric() || c == '_')
            .collect();
        if ident.is_empty() {
            break;
        }
        pos += ident.len();
        if ident != "self" {
            prefix.push(ident);
        }
        let r = &s[pos..];
        let t = r.trim_start();
        if t.starts_with("::") {
            pos += r.len() - t.len() + 2;
        } else {
            out.push(prefix.clone());
            break;
        }
    }
    if !grouped && prefix.len() > depth && out.last() != Some(prefix) {
        out.push(prefix.clone());
    }
    prefix.truncate(depth);
    pos
}

#[test]
fn reads_paths_from_source() {
    let src = r#"
use crate::{boxes::{BoxWriter, FourCc}, nal, Error};
use super::queue::Queue;
// crate::commented::Out
const S: &str = "crate::in_string";
fn f<'a>(x: &'a str) -> char { let _ = crate::inline::call(x); '{' }
macro_rules! m { () => { $crate::not_ours() } }
#[cfg(test)]
mod tests {
    use crate::tested::Thing;
}
"#;
    let (text, test_files) = without_tests(src);
    assert!(test_files.is_empty());
    let got: Vec<(usize, String)> = paths(&text)
        .into_iter()
        .map(|(s, p)| (s, p.join("::")))
        .collect();
    let want = [
        (0, "boxes::BoxWriter"),
        (0, "boxes::FourCc"),
        (0, "nal"),
        (0, "Error"),
        (1, "queue::Queue"),
        (0, "inline::call"),
    ];
    let want: Vec<(usize, String)> = want.iter().map(|(s, p)| (*s, p.to_string())).collect();
    assert_eq!(got, want);
    let (_, files) = without_tests("#[cfg(test)]\n#[path = \"demux_tests.rs\"]\nmod tests;\n");
    assert_eq!(files, ["demux_tests.rs"]);
}
