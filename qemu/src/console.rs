//! A serial console read by a thread: every line kept (and appended to a log file), waiters
//! woken as lines arrive.

use std::io::{BufRead, BufReader, Read, Write};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

#[derive(Default)]
struct Lines {
    lines: Vec<String>,
    closed: bool,
}

#[derive(Clone, Default)]
pub struct Console {
    shared: Arc<(Mutex<Lines>, Condvar)>,
}

/// How a wait ended without finding its line.
pub enum WaitEnd {
    Timeout,
    Closed,
}

impl Console {
    /// Starts reading `from` on a thread; each line is also written to `log`.
    pub fn spawn(from: impl Read + Send + 'static, mut log: Option<std::fs::File>) -> Console {
        let console = Console::default();
        let shared = console.shared.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(from).split(b'\n') {
                let Ok(line) = line else { break };
                let text = String::from_utf8_lossy(&line)
                    .trim_end_matches('\r')
                    .to_string();
                if let Some(log) = log.as_mut() {
                    let _ = writeln!(log, "{text}");
                }
                let (lock, cvar) = &*shared;
                if let Ok(mut lines) = lock.lock() {
                    lines.lines.push(text);
                }
                cvar.notify_all();
            }
            let (lock, cvar) = &*shared;
            if let Ok(mut lines) = lock.lock() {
                lines.closed = true;
            }
            cvar.notify_all();
        });
        console
    }

    /// Waits until a line satisfies `matches` (any line so far counts), returning it.
    pub fn wait_for(
        &self,
        timeout: Duration,
        matches: &dyn Fn(&str) -> bool,
    ) -> Result<String, WaitEnd> {
        self.wait_for_after(0, timeout, matches)
    }

    /// How many lines have come so far: a mark for `wait_for_after`.
    pub fn mark(&self) -> usize {
        self.shared.0.lock().map(|l| l.lines.len()).unwrap_or(0)
    }

    /// `wait_for` that looks only at lines after `mark`: a second reboot of the same machine
    /// must not be taken as done because the first one printed the same line.
    pub fn wait_for_after(
        &self,
        mark: usize,
        timeout: Duration,
        matches: &dyn Fn(&str) -> bool,
    ) -> Result<String, WaitEnd> {
        let deadline = Instant::now() + timeout;
        let (lock, cvar) = &*self.shared;
        let mut seen = mark;
        let mut guard = lock.lock().map_err(|_| WaitEnd::Closed)?;
        loop {
            let from = seen.min(guard.lines.len());
            if let Some(line) = guard.lines[from..].iter().find(|l| matches(l)) {
                return Ok(line.clone());
            }
            seen = guard.lines.len();
            if guard.closed {
                return Err(WaitEnd::Closed);
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(WaitEnd::Timeout);
            }
            guard = cvar
                .wait_timeout(guard, deadline - now)
                .map_err(|_| WaitEnd::Closed)?
                .0;
        }
    }

    /// Every line so far.
    pub fn lines(&self) -> Vec<String> {
        self.shared
            .0
            .lock()
            .map(|l| l.lines.clone())
            .unwrap_or_default()
    }

    /// The last `n` lines, joined, for error messages.
    pub fn tail(&self, n: usize) -> String {
        let lines = self.lines();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_lines_as_they_arrive_and_notices_the_end() {
        let (reader, mut writer) = std::io::pipe().unwrap();
        let console = Console::spawn(reader, None);
        std::thread::spawn(move || {
            writer.write_all(b"[    1.0] booting\r\n").unwrap();
            std::thread::sleep(Duration::from_millis(50));
            writer.write_all(b"probe: ready\n").unwrap();
        });
        let line = console
            .wait_for(Duration::from_secs(5), &|l| l.starts_with("probe:"))
            .ok()
            .unwrap();
        assert_eq!(line, "probe: ready");
        assert!(matches!(
            console.wait_for(Duration::from_secs(5), &|l| l == "never"),
            Err(WaitEnd::Closed)
        ));
        assert_eq!(console.lines()[0], "[    1.0] booting");
    }

    #[test]
    fn a_mark_hides_the_lines_before_it() {
        let (reader, mut writer) = std::io::pipe().unwrap();
        let console = Console::spawn(reader, None);
        writer.write_all(b"reboot: Restarting system\n").unwrap();
        console
            .wait_for(Duration::from_secs(5), &|l| l.contains("Restarting"))
            .ok()
            .unwrap();
        let mark = console.mark();
        assert_eq!(mark, 1);
        let again = |c: &Console| {
            c.wait_for_after(mark, Duration::from_millis(200), &|l| {
                l.contains("Restarting")
            })
        };
        assert!(matches!(again(&console), Err(WaitEnd::Timeout)));
        writer.write_all(b"reboot: Restarting system\n").unwrap();
        assert!(console
            .wait_for_after(mark, Duration::from_secs(5), &|l| l.contains("Restarting"))
            .is_ok());
    }

    #[test]
    fn times_out_when_nothing_comes() {
        let (reader, _writer) = std::io::pipe().unwrap();
        let console = Console::spawn(reader, None);
        assert!(matches!(
            console.wait_for(Duration::from_millis(100), &|_| true),
            Err(WaitEnd::Timeout)
        ));
    }
}
