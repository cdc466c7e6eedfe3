//! A keyring: the nodes a verifier trusts, one a line, `NODE_ID PUBLIC-KEY-LINE [HOST:PORT]` (the
//! public key line `sslx keygen` prints; the address where the node answers out-of-band queries,
//! `sslx token serve`). `#` starts a comment.

use super::TokenError;
use crate::keys::PublicIdentity;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Default)]
pub struct Keyring {
    nodes: BTreeMap<u16, PublicIdentity>,
    addrs: BTreeMap<u16, String>,
}

impl Keyring {
    pub fn parse(text: &str) -> Result<Self, TokenError> {
        let mut nodes = BTreeMap::new();
        let mut addrs = BTreeMap::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            let bad = |why: String| TokenError::Usage(format!("keyring line {}: {why}", i + 1));
            let (id, key) = line.split_once(char::is_whitespace).ok_or_else(|| bad("expected `NODE_ID KEY`".into()))?;
            let id: u16 = id.parse().map_err(|_| bad(format!("{id:?} is not a node id (0-65535)")))?;
            let mut rest = key.split_whitespace();
            let key = PublicIdentity::from_line(rest.next().unwrap_or("")).map_err(|e| bad(e.to_string()))?;
            if let Some(addr) = rest.next() {
                addrs.insert(id, addr.to_owned());
            }
            if rest.next().is_some() {
                return Err(bad("expected `NODE_ID KEY [HOST:PORT]`".into()));
            }
            if nodes.insert(id, key).is_some() {
                return Err(bad(format!("node {id} is listed twice")));
            }
        }
        Ok(Keyring { nodes, addrs })
    }

    pub fn get(&self, node: u16) -> Option<&PublicIdentity> {
        self.nodes.get(&node)
    }

    /// Where `node` answers out-of-band queries, if the keyring says.
    pub fn addr(&self, node: u16) -> Option<&str> {
        self.addrs.get(&node).map(String::as_str)
    }

    pub fn iter(&self) -> impl Iterator<Item = (u16, &PublicIdentity)> {
        self.nodes.iter().map(|(k, v)| (*k, v))
    }

    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }
}
