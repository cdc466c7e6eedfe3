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

    /// The one node of a keyring line (`sslx token mint --to FILE`): its id and X25519 key.
    pub fn single(text: &str) -> Result<(u16, [u8; 32]), TokenError> {
        let kr = Keyring::parse(text)?;
        let mut nodes = kr.iter();
        let (node, public) =
            nodes.next().ok_or_else(|| TokenError::Usage("no `NODE_ID sslx-pub1…` line in it".into()))?;
        if nodes.next().is_some() {
            return Err(TokenError::Usage("more than one node in it; --to takes one".into()));
        }
        Ok((node, public.x25519))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_takes_exactly_one_node() {
        let line = |seed: u8| {
            let id = crate::keys::Identity {
                name: "n".into(),
                x25519: crate::crypto::Secret::new([seed; 32]),
                ed25519_seed: crate::crypto::Secret::new([seed; 32]),
            };
            id.public().to_line()
        };
        let (node, _) = Keyring::single(&format!("# node 7\n7 {}\n", line(1))).unwrap();
        assert_eq!(node, 7);
        assert!(Keyring::single("# nothing\n").is_err());
        assert!(Keyring::single(&format!("7 {}\n8 {}\n", line(1), line(2))).is_err());
    }
}
