//! What `sslx` prints: lines on stderr for the person (unless `--quiet`), NDJSON on stdout with
//! `--json`, tables and tokens on stdout. Every command reports through an [`Output`] so that
//! the two forms say the same things.

use super::fmt_time;
use super::progress::human_bytes;
use crate::courier::log::Entry;
use crate::courier::transfer::{Got, Sent};
use crate::session::endpoint::HookNote;
use crate::session::HandshakeSummary;
use crate::token::{Fields, Verified};
use serde_json::{json, Value};
use std::io::Write;

/// How the person asked to be told things.
#[derive(Debug, Clone, Copy)]
pub struct Output {
    pub json: bool,
    pub quiet: bool,
    /// `--json` events go to stderr: stdout carries a stream (`sslx dial`, `sslx listen`).
    pub json_on_stderr: bool,
}

impl Output {
    /// A line for the person on stderr (not with `--quiet` or `--json`).
    pub fn say(&self, msg: impl AsRef<str>) {
        if !self.quiet && !self.json {
            eprintln!("{}", msg.as_ref());
        }
    }

    /// A line of NDJSON on stdout (on stderr when stdout carries a stream).
    pub fn json(&self, v: Value) {
        if self.json_on_stderr {
            eprintln!("{v}");
        } else {
            println!("{v}");
        }
    }

    /// A failed command: the error (and a hint) on stderr, and with `--json` an error event.
    pub fn error(&self, e: &anyhow::Error, hint: Option<&str>) {
        if self.json {
            let kind = e.chain().find_map(|c| c.downcast_ref::<crate::Error>()).map(|e| e.kind().code());
            self.json(json!({"event": "error", "ok": false, "error": kind.unwrap_or("failure"),
                "message": format!("{e:#}"), "hint": hint}));
        }
        if self.json && self.json_on_stderr {
            return;
        }
        eprintln!("sslx: error: {e:#}");
        if let Some(h) = hint {
            eprintln!("hint: {h}");
        }
    }

    /// `sslx handshake`: what was agreed.
    pub fn handshake(&self, s: &HandshakeSummary) {
        if self.json {
            self.json(json!({"ok": true, "peer": s.peer, "key_id": s.key_id, "cipher": s.cipher,
                "forward_secrecy": s.forward_secrecy, "resumed": s.resumed, "version": s.version}));
        } else {
            println!("peer             {}", s.peer);
            println!("key id           {}", s.key_id);
            println!("cipher           {}", s.cipher);
            println!("forward secrecy  {}", yes_no(s.forward_secrecy));
            println!("resumed          {}", yes_no(s.resumed));
        }
    }

    /// Where a listener waits for calls (`recv`, `listen`, `pair --accept`): a line on stderr,
    /// and an event with `--json` (only the event when events go to stderr: it stays NDJSON).
    /// `--quiet` silences the line like every other (a script waits for the `listening` event).
    pub fn listening(&self, on: &str, me: &str) {
        if self.json {
            self.json(json!({"event": "listening", "on": on, "name": me}));
        }
        if !(self.quiet || self.json && self.json_on_stderr) {
            eprintln!("sslx: listening on {on} as {me}");
        }
    }

    /// A session is up (`dial`, a call `listen` took).
    pub fn call_start(&self, s: &HandshakeSummary, caller: bool) {
        if self.json {
            self.json(json!({"event": "connected", "peer": s.peer, "key_id": s.key_id, "cipher": s.cipher,
                "forward_secrecy": s.forward_secrecy, "resumed": s.resumed}));
        } else if caller {
            self.say(format!("sslx: connected to {}", describe(s)));
        } else {
            self.say(format!("sslx: call from {}", describe(s)));
        }
    }

    /// Where a listener's command's stderr goes at the caller: our stderr as it is, or with
    /// `--json` as `stderr` events (so that stderr stays NDJSON).
    pub fn remote_stderr(&self) -> RemoteStderr {
        RemoteStderr { out: *self }
    }

    /// A session ended: bytes each way and, for a command, how it ended.
    pub fn call_end(&self, peer: &str, sent: u64, received: u64, exit: Option<crate::session::msgs::RemoteExit>) {
        use crate::session::msgs::RemoteExit;
        if self.json {
            let mut v = json!({"event": "done", "ok": true, "peer": peer, "sent": sent, "received": received});
            match exit {
                Some(RemoteExit::Exited(c)) => extend(&mut v, json!({"exit_code": c})),
                Some(RemoteExit::Signal(s)) => {
                    extend(&mut v, json!({"signal": s, "exit_code": RemoteExit::Signal(s).exit_code()}))
                }
                None => {}
            }
            return self.json(v);
        }
        let how = match exit {
            Some(RemoteExit::Exited(c)) => format!(", the command exited with {c}"),
            Some(RemoteExit::Signal(s)) => format!(", the command was killed by signal {s}"),
            None => String::new(),
        };
        self.say(format!("sslx: call with {peer} ended: {sent} bytes sent, {received} received{how}"));
    }

    /// What happens on a hook at the CDS: grants and rings (unless quiet), drops and returns,
    /// calls that could not be answered. A drop, and a return, is told even with `--quiet`: the
    /// person (or the journal) must know that calls cannot reach us.
    pub fn hook_note(&self, note: &HookNote, service: &str) {
        if self.json {
            let v = match note {
                HookNote::Granted { caller } => json!({"event": "granted", "caller": caller}),
                HookNote::Ring { caller } => json!({"event": "ring", "caller": caller}),
                HookNote::AnswerFailed { caller, error } => {
                    json!({"event": "answer_failed", "caller": caller, "error": error.kind().code(),
                        "message": error.to_string()})
                }
                HookNote::Down { why, retry_in, again } => json!({"event": "hook_down", "service": service,
                    "message": why, "retry_in": retry_in.as_secs_f64(), "again": again}),
                HookNote::Back => json!({"event": "hook_up", "service": service}),
                HookNote::Mailbox { sender } => json!({"event": "mailbox", "sender": sender}),
            };
            return self.json(v);
        }
        let wait = |d: &std::time::Duration| format!("{:.1} s", d.as_secs_f64());
        match note {
            HookNote::Granted { caller } if !self.quiet => {
                eprintln!("sslx: the CDS granted {caller} a session with us")
            }
            HookNote::Ring { caller } if !self.quiet => eprintln!("sslx: ring from {caller}"),
            HookNote::AnswerFailed { caller, error } => eprintln!("sslx: could not answer {caller}: {error}"),
            HookNote::Down { why, retry_in, again: false } => eprintln!(
                "sslx: off hook at the CDS ({why}): calls cannot reach us; on hook again in {}",
                wait(retry_in)
            ),
            HookNote::Down { why, retry_in, again: true } => {
                eprintln!("sslx: still off hook ({why}); next try in {}", wait(retry_in))
            }
            HookNote::Back => eprintln!("sslx: back on hook at the CDS (service {service})"),
            HookNote::Mailbox { sender } if !self.quiet => {
                eprintln!("sslx: {sender} left a bundle in the mailbox: fetching it")
            }
            _ => {}
        }
    }

    /// A transfer begins (`--json` only: the person sees the progress bar).
    pub fn transfer_start(&self, fields: Value) {
        if self.json {
            let mut v = json!({"event": "start"});
            extend(&mut v, fields);
            self.json(v);
        }
    }

    /// A bundle sent to `peer` via `via` in `secs`.
    pub fn sent(&self, peer: &str, s: &Sent, via: &Where, secs: f64) {
        if self.json {
            let mut v = json!({"event": "done", "ok": true, "peer": peer, "bundle": s.bundle, "files": s.files,
                "bytes": s.bytes, "wire_bytes": s.wire, "resumed_from": s.resumed_from, "suite": s.suite.family(),
                "via": via.name(), "seconds": secs});
            match via {
                Where::File(p) => extend(&mut v, json!({"out": p.to_string_lossy()})),
                Where::Mailbox { expires } => extend(
                    &mut v,
                    json!({"queued_until": crate::clock::fmt_time(*expires), "queued_until_unix": expires}),
                ),
                _ => {}
            }
            self.json(v);
        } else {
            let resumed = match s.resumed_from {
                0 => String::new(),
                n => format!(", resumed after the {} {peer} kept from the cut transfer", human_bytes(n)),
            };
            self.say(format!(
                "sslx: sent {} file(s), {} to {peer} via {via} in {secs:.1} s ({}), {} on the wire, suite {}, bundle {}{resumed}",
                s.files,
                human_bytes(s.bytes),
                rate(s.bytes, secs),
                human_bytes(s.wire),
                s.suite.family(),
                s.bundle
            ));
        }
    }

    /// A bundle received via `via` in `secs`.
    pub fn received(&self, g: &Got, into: &std::path::Path, via: &str, secs: f64) {
        let u = &g.unpacked;
        if self.json {
            let renamed: Vec<_> = u.renamed.iter().map(|(from, to)| json!({"name": from, "placed_as": to})).collect();
            self.json(json!({"event": "done", "ok": true, "peer": g.peer, "bundle": g.bundle, "files": u.files,
                "bytes": u.bytes, "names": u.names, "into": into, "renamed": renamed, "replaced": u.replaced,
                "skipped": u.skipped, "resumed_from": g.resumed_from, "suite": g.suite.family(), "via": via,
                "seconds": secs}));
        } else {
            let mut notes = String::new();
            if g.resumed_from > 0 {
                notes.push_str(&format!(
                    "; resumed after the {} kept from the cut transfer",
                    human_bytes(g.resumed_from)
                ));
            }
            for (from, to) in &u.renamed {
                notes.push_str(&format!("; {from} exists: placed as {to}"));
            }
            for n in &u.replaced {
                notes.push_str(&format!("; {n} replaced what was there"));
            }
            for n in &u.skipped {
                notes.push_str(&format!("; {n} exists: skipped"));
            }
            self.say(format!(
                "sslx: received {} file(s), {} from {} via {via} in {secs:.1} s ({}), suite {}, into {}: {}{notes}",
                u.files,
                human_bytes(u.bytes),
                g.peer,
                rate(u.bytes, secs),
                g.suite.family(),
                into.display(),
                u.names.join(" ")
            ));
        }
    }

    /// `sslx log`: the entries as NDJSON or a table.
    pub fn log(&self, entries: &[Entry]) -> std::io::Result<()> {
        if self.json {
            // Times as RFC 3339, with the Unix seconds beside them, as everywhere.
            let entries: Vec<Value> = entries
                .iter()
                .map(|e| {
                    let mut v = serde_json::to_value(e).unwrap_or(Value::Null);
                    extend(&mut v, json!({"time": fmt_time(e.time), "time_unix": e.time}));
                    v
                })
                .collect();
            self.json(json!({"ok": true, "entries": entries}));
            return Ok(());
        }
        let mut out = std::io::stdout().lock();
        writeln!(
            out,
            "{:<20} {:<8} {:<16} {:>5} {:>10} {:<5} {:<7} {:<9} {:<16} NAMES",
            "TIME", "LOG", "PEER", "FILES", "BYTES", "SUITE", "VIA", "RESULT", "BUNDLE"
        )?;
        for e in entries {
            writeln!(
                out,
                "{:<20} {:<8} {:<16} {:>5} {:>10} {:<5} {:<7} {:<9} {:<16} {}{}",
                fmt_time(e.time),
                e.direction,
                e.peer,
                e.files,
                human_bytes(e.bytes),
                e.suite,
                e.via,
                e.result,
                e.bundle,
                e.names.join(" "),
                if e.detail.is_empty() { String::new() } else { format!("  ({})", e.detail) }
            )?;
        }
        Ok(())
    }

    /// A verified token's fields (`token verify`, `token resolve`), with `extra` in the JSON.
    pub fn token_fields(&self, got: &Verified, fields: &Fields, extra: Value) -> std::io::Result<()> {
        if self.json {
            let map: serde_json::Map<String, Value> =
                fields.0.iter().map(|(k, v)| (k.clone(), Value::String(v.clone()))).collect();
            let mut v = json!({"ok": true, "node": got.node, "session_id": got.session_id(),
                "sealed": got.sealed, "created": fmt_time(got.created), "expires": fmt_time(got.expires),
                "fields": map});
            extend(&mut v, extra);
            self.json(v);
        } else {
            let mut out = std::io::stdout().lock();
            writeln!(out, "Session-ID: {}", got.session_id())?;
            write!(out, "{}", fields.to_text())?;
        }
        Ok(())
    }
}

/// A session in one line: the peer, its key and what was agreed.
pub fn describe(s: &HandshakeSummary) -> String {
    format!(
        "{} (Key-ID {}, {}, forward secrecy {}, {})",
        s.peer,
        s.key_id,
        s.cipher,
        yes_no(s.forward_secrecy),
        if s.resumed { "resumed" } else { "full handshake" }
    )
}

/// Bytes per second, human-sized ("-" when no time passed).
pub fn rate(bytes: u64, secs: f64) -> String {
    if secs <= 0.0 {
        return "-".into();
    }
    format!("{}/s", human_bytes((bytes as f64 / secs) as u64))
}

fn yes_no(b: bool) -> &'static str {
    if b {
        "yes"
    } else {
        "no"
    }
}

/// See [`Output::remote_stderr`].
pub struct RemoteStderr {
    out: Output,
}

impl Write for RemoteStderr {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.out.json {
            self.out.json(json!({"event": "stderr", "text": String::from_utf8_lossy(buf)}));
            Ok(buf.len())
        } else {
            std::io::stderr().write(buf)
        }
    }
    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

fn extend(v: &mut Value, extra: Value) {
    if let (Some(o), Value::Object(e)) = (v.as_object_mut(), extra) {
        o.extend(e);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_are_human_and_never_divide_by_zero() {
        assert_eq!(rate(10, 0.0), "-");
        assert_eq!(rate(2 * 1024 * 1024, 2.0), format!("{}/s", human_bytes(1024 * 1024)));
    }

    #[test]
    fn extra_fields_join_the_object() {
        let mut v = json!({"ok": true});
        extend(&mut v, json!({"fetched": 2}));
        assert_eq!(v, json!({"ok": true, "fetched": 2}));
    }
}

/// Where a sent bundle went: the `via` of `--json` (relay, direct, mailbox, file, stdout), with
/// the file's path or the mailbox's expiry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Where {
    Relay,
    Direct,
    Mailbox { expires: u64 },
    File(std::path::PathBuf),
    Stdout,
}

impl Where {
    pub fn name(&self) -> &'static str {
        match self {
            Where::Relay => "relay",
            Where::Direct => "direct",
            Where::Mailbox { .. } => "mailbox",
            Where::File(_) => "file",
            Where::Stdout => "stdout",
        }
    }
}

impl std::fmt::Display for Where {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Where::Mailbox { expires } => write!(f, "mailbox (queued until {})", fmt_time(*expires)),
            Where::File(p) => write!(f, "file {}", p.display()),
            w => f.write_str(w.name()),
        }
    }
}
