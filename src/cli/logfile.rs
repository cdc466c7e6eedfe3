//! The daemon's log (`sslx-cds serve`): lines on stderr (journald adds the time), or appended
//! to a file with a time on each, which SIGHUP reopens after logrotate moved it. The library
//! writes through the `log` facade; this is the one sink.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

pub struct LineLog {
    prefix: &'static str,
    to: Mutex<Target>,
}

enum Target {
    Stderr,
    File { path: PathBuf, file: std::fs::File },
}

fn open(path: &Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new().create(true).append(true).mode(0o640).open(path)
}

impl LineLog {
    /// Installs the sink for the `log` facade (once per process): `file`, or stderr.
    pub fn install(prefix: &'static str, file: Option<&Path>) -> std::io::Result<&'static LineLog> {
        let to = match file {
            Some(p) => Target::File { path: p.to_owned(), file: open(p)? },
            None => Target::Stderr,
        };
        let log: &'static LineLog = Box::leak(Box::new(LineLog { prefix, to: Mutex::new(to) }));
        log::set_logger(log).map_err(|e| std::io::Error::other(e.to_string()))?;
        log::set_max_level(log::LevelFilter::Info);
        Ok(log)
    }

    /// Opens the file again by its name (after logrotate moved the old one away).
    pub fn reopen(&self) -> std::io::Result<()> {
        let mut to = self.to.lock().unwrap_or_else(|p| p.into_inner());
        if let Target::File { path, file } = &mut *to {
            *file = open(path)?;
        }
        Ok(())
    }

    /// One line as the file would get it (a time first) or stderr would.
    fn line(&self, to_file: bool, level: log::Level, msg: &str) -> String {
        let level = match level {
            log::Level::Error => "error: ",
            log::Level::Warn => "warning: ",
            _ => "",
        };
        if to_file {
            format!("{} {}: {level}{msg}\n", crate::clock::fmt_time(crate::clock::now_unix()), self.prefix)
        } else {
            format!("{}: {level}{msg}\n", self.prefix)
        }
    }
}

impl log::Log for LineLog {
    fn enabled(&self, m: &log::Metadata) -> bool {
        m.level() <= log::Level::Info
    }

    fn log(&self, r: &log::Record) {
        if !self.enabled(r.metadata()) {
            return;
        }
        let msg = r.args().to_string();
        let mut to = self.to.lock().unwrap_or_else(|p| p.into_inner());
        match &mut *to {
            Target::Stderr => drop(std::io::stderr().write_all(self.line(false, r.level(), &msg).as_bytes())),
            Target::File { file, .. } => drop(file.write_all(self.line(true, r.level(), &msg).as_bytes())),
        }
    }

    fn flush(&self) {}
}
