//! Child processes stopped by PID when their guard drops.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// A running peer process. Dropping it sends SIGTERM, waits up to 5 s, then SIGKILLs.
#[derive(Debug)]
pub struct ChildGuard {
    child: Option<Child>,
    name: String,
    /// Lines the child printed on stdout after the ready line (read by a thread).
    pub stdout_lines: Option<mpsc::Receiver<String>>,
}

impl ChildGuard {
    /// Spawns `cmd` (stdout piped, stderr inherited) and waits until a stdout line starts
    /// with `ready_prefix`; returns the guard and that line.
    pub fn spawn_until_line(
        name: &str,
        mut cmd: Command,
        ready_prefix: &str,
        timeout: Duration,
    ) -> (Self, String) {
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        let mut child = cmd.spawn().unwrap_or_else(|e| panic!("start {name}: {e}"));
        let stdout = child.stdout.take().expect("stdout is piped");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut guard = ChildGuard {
            child: Some(child),
            name: name.to_owned(),
            stdout_lines: None,
        };
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) if line.starts_with(ready_prefix) => {
                    guard.stdout_lines = Some(rx);
                    return (guard, line);
                }
                Ok(_) => continue,
                Err(_) => {
                    let status = guard
                        .child
                        .as_mut()
                        .and_then(|c| c.try_wait().ok().flatten());
                    panic!(
                        "{name} did not print {ready_prefix:?} within {timeout:?} (exit status: {status:?})"
                    );
                }
            }
        }
    }

    /// Wraps an already spawned child.
    pub fn new(name: &str, child: Child) -> Self {
        ChildGuard {
            child: Some(child),
            name: name.to_owned(),
            stdout_lines: None,
        }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// Sends `signal` (e.g. "TERM", "KILL", "INT") to the process by PID.
    pub fn signal(&self, signal: &str) {
        if let Some(child) = &self.child {
            let _ = Command::new("kill")
                .arg(format!("-{signal}"))
                .arg(child.id().to_string())
                .status();
        }
    }

    /// Stops the process: SIGTERM, wait up to 5 s, then SIGKILL. Idempotent.
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        if matches!(child.try_wait(), Ok(None)) {
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(child.id().to_string())
                .status();
            exit_or_kill(&self.name, &mut child, Duration::from_secs(5));
        }
        let _ = child.wait();
    }

    /// The child's piped stdin (panics when stdin was not piped).
    pub fn stdin(&mut self) -> &mut std::process::ChildStdin {
        self.child
            .as_mut()
            .and_then(|c| c.stdin.as_mut())
            .expect("stdin is piped")
    }

    /// The child's piped stdout, to read while it runs (`None` when not piped or taken).
    pub fn take_stdout(&mut self) -> Option<std::process::ChildStdout> {
        self.child.as_mut().and_then(|c| c.stdout.take())
    }

    /// Waits up to `timeout` for the process to exit (killing it after) and returns its
    /// exit code (`None` when killed or signalled) and what it printed on its piped stderr.
    pub fn wait_with_stderr(&mut self, timeout: Duration) -> (Option<i32>, String) {
        let Some(mut child) = self.child.take() else {
            return (None, String::new());
        };
        drop(child.stdin.take());
        let reader = child.stderr.take().map(|mut err| {
            std::thread::spawn(move || {
                let mut text = String::new();
                let _ = std::io::Read::read_to_string(&mut err, &mut text);
                text
            })
        });
        let code = exit_or_kill(&self.name, &mut child, timeout).and_then(|s| s.code());
        (code, reader.and_then(|r| r.join().ok()).unwrap_or_default())
    }

    /// Kills the process at once (SIGKILL), as a crash would.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Waits up to `timeout` for `child` to exit; SIGKILLs it after. `None` when killed.
fn exit_or_kill(name: &str, child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + timeout;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Some(status),
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            _ => {
                eprintln!(
                    "{name} (pid {}) still running after {timeout:?}; killing",
                    child.id()
                );
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
        }
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Runs `cmd` to completion (no standard streams) and returns its CPU time, user plus
/// system, read from `/proc/PID/stat` once it has exited and before it is reaped: what the
/// whole-process benches compare. Panics when the command fails.
pub fn cpu_time_of(mut cmd: Command) -> Duration {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("start {cmd:?}: {e}"));
    let stat = std::path::PathBuf::from(format!("/proc/{}/stat", child.id()));
    let mut ticks = None;
    while ticks.is_none() {
        std::thread::sleep(Duration::from_millis(5));
        ticks = zombie_cpu_ticks(&stat);
    }
    let status = child.wait().unwrap_or_else(|e| panic!("wait {cmd:?}: {e}"));
    assert!(status.success(), "{cmd:?} failed: {status}");
    Duration::from_secs_f64(ticks.unwrap_or(0.0) / 100.0) // USER_HZ on Linux
}

/// utime + stime of a process that has exited and is not reaped yet (state `Z`).
fn zombie_cpu_ticks(stat: &std::path::Path) -> Option<f64> {
    let text = std::fs::read_to_string(stat).ok()?;
    // The state is field 3, the first after the command name in parentheses.
    if text.rsplit_once(')')?.1.split_whitespace().next() != Some("Z") {
        return None;
    }
    stat_ticks(&text)
}

/// A running process's CPU time (user plus system, every thread) at one moment, for the
/// benches that read a server's CPU over a window: the scheduler's run time of each thread
/// (`/proc/PID/task/TID/schedstat`, nanoseconds) and the process's own tick count
/// (`/proc/PID/stat`, 10 ms, including threads that have ended). A window of 20 s read in
/// ticks alone is ±0.03 CPU s per minute, as large as the differences the WHEP bench
/// looks for.
#[derive(Debug, Clone)]
pub struct CpuReading {
    threads: std::collections::BTreeMap<u32, u64>,
    ticks: f64,
}

impl CpuReading {
    /// Reads process `pid` now. Panics when it is gone.
    pub fn of(pid: u32) -> CpuReading {
        let text = std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .unwrap_or_else(|e| panic!("the process {pid} is gone: {e}"));
        let ticks = stat_ticks(&text).unwrap_or_else(|| panic!("unreadable /proc/{pid}/stat"));
        let mut threads = std::collections::BTreeMap::new();
        if let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/task")) {
            for entry in dir.flatten() {
                let tid = entry.file_name().to_string_lossy().parse::<u32>();
                let run = std::fs::read_to_string(entry.path().join("schedstat"));
                if let (Ok(tid), Ok(run)) = (tid, run)
                    && let Some(Ok(ns)) = run.split_whitespace().next().map(str::parse::<u64>)
                {
                    threads.insert(tid, ns);
                }
            }
        }
        CpuReading { threads, ticks }
    }

    /// The CPU time used between `earlier` and this reading: to the nanosecond when every
    /// thread of `earlier` is still there (new threads count from zero), in ticks when one
    /// ended in between (its time is in the process's total only).
    pub fn since(&self, earlier: &CpuReading) -> Duration {
        let all_there = !earlier.threads.is_empty()
            && earlier.threads.keys().all(|t| self.threads.contains_key(t));
        if all_there {
            let ns: u64 = self
                .threads
                .iter()
                .map(|(t, ns)| ns.saturating_sub(earlier.threads.get(t).copied().unwrap_or(0)))
                .sum();
            Duration::from_nanos(ns)
        } else {
            Duration::from_secs_f64((self.ticks - earlier.ticks).max(0.0) / 100.0)
        }
    }
}

/// utime + stime from the text of `/proc/PID/stat`, in ticks (USER_HZ, 100 on Linux).
fn stat_ticks(text: &str) -> Option<f64> {
    // After the command name, which is in parentheses and may hold spaces: utime and
    // stime are fields 14 and 15 (12th and 13th after the name).
    let fields: Vec<&str> = text.rsplit_once(')')?.1.split_whitespace().collect();
    Some(fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spin(d: Duration) {
        let t = std::time::Instant::now();
        while t.elapsed() < d {
            std::hint::black_box(0u64);
        }
    }

    #[test]
    fn a_reading_counts_this_process_spinning() {
        let pid = std::process::id();
        let before = CpuReading::of(pid);
        spin(Duration::from_millis(120));
        let used = CpuReading::of(pid).since(&before);
        assert!(used >= Duration::from_millis(100), "{used:?}");
        assert!(used < Duration::from_secs(5), "{used:?}");
    }

    #[test]
    fn a_thread_that_ended_is_counted_in_ticks() {
        let pid = std::process::id();
        let worker = std::thread::spawn(|| spin(Duration::from_millis(50)));
        std::thread::sleep(Duration::from_millis(10));
        let before = CpuReading::of(pid);
        worker.join().unwrap();
        spin(Duration::from_millis(100));
        let after = CpuReading::of(pid);
        // Ticks: 10 ms each, so at least what the main thread spun less one tick.
        assert!(after.since(&before) >= Duration::from_millis(90));
    }
}
