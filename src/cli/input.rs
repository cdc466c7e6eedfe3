//! Secrets and inputs from the command line without putting them in `ps`: a flag, an
//! environment variable, a file, or a prompt when stdin is a terminal. Never a prompt otherwise.

use crate::{Error, Result};
use std::io::{IsTerminal, Read};

/// Reads `-` (stdin) or a file, refusing anything over `max` bytes.
pub fn read_input(path: &str, max: u64, what: &str) -> Result<String> {
    let mut buf = Vec::new();
    let res = if path == "-" {
        std::io::stdin().lock().take(max + 1).read_to_end(&mut buf)
    } else {
        std::fs::File::open(path).and_then(|f| f.take(max + 1).read_to_end(&mut buf))
    };
    res.map_err(|e| Error::io(format!("reading {what} from {path}"), e))?;
    if buf.len() as u64 > max {
        return Err(Error::Usage(format!("{what} in {path} is over {max} bytes: not a {what}")));
    }
    String::from_utf8(buf).map_err(|_| Error::Usage(format!("{what} in {path} is not text")))
}

/// A secret from (in order) the flag's value, a file, or a terminal prompt.
pub fn secret(value: Option<String>, file: Option<&str>, prompt: &str, env_name: &str) -> Result<String> {
    if let Some(v) = value {
        return Ok(v);
    }
    if let Some(f) = file {
        return Ok(read_input(f, 4096, "secret")?.trim().to_owned());
    }
    if std::io::stdin().is_terminal() {
        return rpassword::prompt_password(prompt).map_err(|e| Error::io("reading from the terminal", e));
    }
    Err(Error::Usage(format!(
        "{prompt} needed: give it with the flag, {env_name}=…, or a file; there is no terminal to ask"
    )))
}
