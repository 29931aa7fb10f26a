//! Makes sure the real test peers are present; installs them when we are root.

#[path = "../../crates/test-support/src/peer_list.rs"]
#[allow(dead_code)] // `spec` is for test-support
mod peer_list;

use std::process::Command;

use peer_list::{PEERS, Source};

/// Checks every peer; as root with apt-get, installs the missing Debian (and PyPI)
/// packages; otherwise fails with the exact install command.
pub(crate) fn ensure() -> crate::Result {
    let missing: Vec<_> = PEERS.iter().filter(|p| !peer_list::is_present(p)).collect();
    if missing.is_empty() {
        eprintln!("==> peers: all {} present", PEERS.len());
        return Ok(());
    }
    let names: Vec<_> = missing.iter().map(|p| p.name).collect();
    let mut apt: Vec<&str> = Vec::new();
    let mut pip: Vec<&str> = Vec::new();
    let mut npm: Vec<&str> = Vec::new();
    for peer in &missing {
        match peer.source {
            Source::Apt(pkgs) => apt.extend(pkgs),
            Source::Pip(pkgs) => pip.extend(pkgs),
            Source::Npm(pkgs) => npm.extend(pkgs),
        }
    }
    apt.sort_unstable();
    apt.dedup();
    pip.sort_unstable();
    pip.dedup();
    let apt_cmd = format!("apt-get install -y {}", apt.join(" "));
    let pip_cmd = format!("python3 -m pip install {}", pip.join(" "));
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.starts_with(b"0\n"));
    let has_apt = Command::new("apt-get").arg("--version").output().is_ok();
    let can_install = root && has_apt;
    if !apt.is_empty() && !can_install {
        return Err(format!(
            "test peers missing: {names:?}. Install them with:\n  sudo {apt_cmd}"
        ));
    }
    eprintln!("==> peers missing: {names:?}; installing");
    if !apt.is_empty() {
        let mut update = Command::new("apt-get");
        update.args(["update", "-q"]);
        crate::run("apt-get update", update)?;
        let mut install = Command::new("sh");
        install
            .args(["-c", &apt_cmd])
            .env("DEBIAN_FRONTEND", "noninteractive");
        crate::run("apt-get install", install)?;
    }
    if !pip.is_empty() {
        let mut install = Command::new("sh");
        install.args(["-c", &pip_cmd]);
        crate::run("pip install", install)?;
    }
    if !npm.is_empty() {
        let mut install = Command::new("npm");
        install
            .args(["install", "-g", "--no-audit", "--no-fund"])
            .args(&npm);
        crate::run("npm install", install)?;
    }
    let still: Vec<_> = PEERS
        .iter()
        .filter(|p| !peer_list::is_present(p))
        .map(|p| p.name)
        .collect();
    if still.is_empty() {
        Ok(())
    } else {
        Err(format!("peers still missing after install: {still:?}"))
    }
}
