//! The two messages of remote execution that ride in the session's first records (PROTOCOL.md
//! 5H): the gateway's command, and the host's decision on it.

use crate::wire::{put_str16, put_str8, Reader, WireError};

/// Arguments a command may have at most (the program included).
pub const MAX_ARGS: usize = 256;
/// Bytes one argument may have at most.
pub const MAX_ARG_LEN: usize = 4096;

/// Gateway → host, the first record: `str8 as_user ‖ u16 argc ‖ argc × str16 arg`. `as_user`
/// empty: the local user the ACL gives the principal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecCommand {
    pub as_user: String,
    pub argv: Vec<String>,
}

impl ExecCommand {
    pub fn encode(&self) -> Result<Vec<u8>, WireError> {
        if self.argv.is_empty() || self.argv.len() > MAX_ARGS {
            return Err(WireError::Invalid("a command has 1 to 256 arguments"));
        }
        let mut o = Vec::new();
        put_str8(&mut o, &self.as_user)?;
        o.extend_from_slice(&(self.argv.len() as u16).to_be_bytes());
        for a in &self.argv {
            if a.len() > MAX_ARG_LEN {
                return Err(WireError::FieldTooLong { len: a.len(), max: MAX_ARG_LEN });
            }
            if a.contains('\0') {
                return Err(WireError::Invalid("an argument with a NUL"));
            }
            put_str16(&mut o, a)?;
        }
        Ok(o)
    }
    pub fn decode(b: &[u8]) -> Result<Self, WireError> {
        let mut r = Reader::new(b);
        let as_user = r.str8("user")?.to_owned();
        let n = r.u16("argument count")? as usize;
        if n == 0 || n > MAX_ARGS {
            return Err(WireError::Invalid("a command has 1 to 256 arguments"));
        }
        let mut argv = Vec::with_capacity(n);
        for _ in 0..n {
            let a = r.str16("argument")?;
            if a.len() > MAX_ARG_LEN || a.contains('\0') {
                return Err(WireError::Invalid("an argument over 4,096 bytes or with a NUL"));
            }
            argv.push(a.to_owned());
        }
        r.finish()?;
        Ok(ExecCommand { as_user, argv })
    }
}

/// Host → gateway, the first record: `u8 allowed ‖ str8 local_user ‖ str16 reason`; allowed 1
/// (the command runs as `local_user`; its output follows) or 0 (denied, `reason` says why, and
/// the session ends).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecDecision {
    pub allowed: bool,
    pub local_user: String,
    pub reason: String,
}

impl ExecDecision {
    pub fn encode(&self) -> Result<Vec<u8>, WireError> {
        let mut o = vec![u8::from(self.allowed)];
        put_str8(&mut o, &self.local_user)?;
        put_str16(&mut o, &self.reason)?;
        Ok(o)
    }
    pub fn decode(b: &[u8]) -> Result<Self, WireError> {
        let mut r = Reader::new(b);
        let allowed = match r.u8("decision")? {
            0 => false,
            1 => true,
            _ => return Err(WireError::Invalid("a decision is 0 or 1")),
        };
        let v = ExecDecision {
            allowed,
            local_user: r.str8("local user")?.to_owned(),
            reason: r.str16("reason")?.to_owned(),
        };
        r.finish()?;
        Ok(v)
    }
}
