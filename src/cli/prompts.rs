//! The person at a terminal, asked things: the pairing's short string and its confirmation.

use super::report::Output;
use crate::courier::pair::PairingPrompts;
use std::io::Write;

/// The short string the acceptor was given: flag or SSLX_SAS, a file (- for stdin), or a prompt.
fn read_short_string(sas: Option<String>, sas_file: Option<&str>, caller: &str) -> crate::Result<String> {
    if let Some(s) = sas {
        return Ok(s);
    }
    if let Some(f) = sas_file {
        let text = crate::cli::input::read_input(f, 4096, "short string")?;
        return Ok(text.lines().next().unwrap_or("").trim().to_owned());
    }
    eprint!("the string {caller} reads to you: ");
    let mut line = String::new();
    std::io::stdin().read_line(&mut line).map_err(|e| crate::Error::io("reading the short string", e))?;
    Ok(line.trim().to_owned())
}

/// The person at this end of a pairing, or the script standing in for them.
pub struct PairPrompts {
    pub out: Output,
    /// The string given by `--sas` or `SSLX_SAS`.
    pub sas: Option<String>,
    /// A file (`-`: stdin) whose first line is the string.
    pub sas_file: Option<String>,
    /// Show the string this side shows as a QR code too (on stderr).
    pub qr: bool,
}

/// `text` as a QR code in Unicode half blocks, with its quiet zone.
pub fn qr_code(text: &str) -> Option<String> {
    let code = qrcode::QrCode::new(text.as_bytes()).ok()?;
    Some(code.render::<qrcode::render::unicode::Dense1x2>().quiet_zone(true).build())
}

impl PairPrompts {
    /// Whether a script gives the string (no person to ask).
    pub fn scripted(&self) -> bool {
        self.sas.is_some() || self.sas_file.is_some()
    }
    fn print_string(&self, peer: &str, short_string: &str) -> crate::Result<()> {
        if self.out.json {
            println!("{}", serde_json::json!({"event": "short_string", "peer": peer, "short_string": short_string}));
        } else {
            println!("{short_string}");
        }
        std::io::stdout().flush().map_err(|e| crate::Error::io("writing the short string", e))
    }
}

impl PairingPrompts for PairPrompts {
    fn typed_string(&mut self, peer: &str) -> crate::Result<String> {
        read_short_string(self.sas.take(), self.sas_file.as_deref(), peer)
    }
    fn show_string(&mut self, peer: &str, short_string: &str) -> crate::Result<()> {
        self.print_string(peer, short_string)?;
        if let Some(code) = qr_code(short_string).filter(|_| self.qr) {
            eprintln!("{code}");
        }
        self.out.say(format!(
            "sslx: read this string to {peer} by phone: {short_string}\nsslx: waiting for {peer} to enter it"
        ));
        Ok(())
    }
    fn matched(&mut self, peer: &str, short_string: &str) -> crate::Result<()> {
        // Only for a script on the other side (pair --yes), which compares it with its own.
        if self.scripted() {
            self.print_string(peer, short_string)?;
        }
        Ok(())
    }
    fn confirmed_by_person(&mut self, peer: &str) -> crate::Result<bool> {
        eprint!("{peer}'s sslx says the string matched. Did {peer} tell you so on the phone? [y/N] ");
        let mut line = String::new();
        std::io::stdin().read_line(&mut line).map_err(|e| crate::Error::io("reading the answer", e))?;
        Ok(matches!(line.trim(), "y" | "Y" | "yes" | "YES" | "Yes"))
    }
    fn say(&mut self, line: &str) {
        self.out.say(line);
    }
}
