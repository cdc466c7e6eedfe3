//! The VSU crypto on both sides, free of I/O: the CDS splits a fresh CDSK into replies A, B, C;
//! the DS puts it back together (claims 3–4); confirmation, confirmed and denied (claims 5–8).

use super::msgs::*;
use crate::crypto::{self, labels, Secret};
use crate::keys::{Identity, PublicIdentity};
use crate::wire::CHALLENGE_LEN;
use crate::{Error, Result};
use ring::rand::SecureRandom;

/// The CDS key: H1 ‖ H2, 16 bytes each.
pub use crate::enrollment::Cdsk;

/// A PIN is 4–6 hex digits; it is compared upper case, spaces and dashes ignored.
pub fn normalize_pin(pin: &str) -> Result<String> {
    let p: String = pin.chars().filter(|c| !c.is_whitespace() && *c != '-').collect::<String>().to_ascii_uppercase();
    if !(4..=6).contains(&p.len()) || !p.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(Error::Usage(format!("a PIN is 4 to 6 hexadecimal digits (got {} characters)", p.len())));
    }
    Ok(p)
}

/// A fresh PIN of `digits` hex digits from the OS RNG.
pub fn random_pin(digits: usize, rng: &dyn SecureRandom) -> String {
    let b: [u8; 3] = crypto::random_array(rng);
    let hex: String = b.iter().map(|x| format!("{x:02X}")).collect();
    hex[..digits.clamp(4, 6)].to_owned()
}

/// What the CDS sends: reply A (direct), reply B (email), reply C (out of band).
pub struct Replies {
    pub a: ReplyA,
    pub b: ReplyB,
    pub c: ReplyC,
}

pub struct ReplyParams<'a> {
    pub request_id: RequestId,
    pub name: &'a str,
    pub ds_public: &'a PublicIdentity,
    pub expires: u64,
    pub cds_http: &'a str,
    pub cds_sign_key: [u8; 32],
    /// The protocol addresses announced (reply A's `cds_addresses`; empty: none).
    pub cds_addresses: &'a str,
}

/// CDS side (claim 1): split `cdsk` into the three replies.
pub fn make_replies(cdsk: &Cdsk, pin: &str, p: &ReplyParams<'_>, rng: &dyn SecureRandom) -> Result<Replies> {
    let (h1, h2) = cdsk.expose().split_at(16);
    let h1_off = zeroize::Zeroizing::new(crypto::offset(h1, pin.as_bytes(), labels::VSU_H1_BY_PIN));
    let h2_off = crypto::offset(h2, h1, labels::VSU_H2_BY_H1);
    let mut a = ReplyA {
        request_id: p.request_id,
        expires: p.expires,
        cds_http: p.cds_http.to_owned(),
        cds_sign_key: p.cds_sign_key,
        enc: [0; 32],
        sealed_h1: Vec::new(),
        cds_addresses: p.cds_addresses.to_owned(),
    };
    let (enc, sealed) = crypto::hpke_seal(&p.ds_public.x25519, labels::VSU_REPLY_A, &a.aad()?, &h1_off, rng)
        .ok_or_else(|| Error::Usage("the DS's X25519 public key is not a valid key".into()))?;
    a.enc = enc;
    a.sealed_h1 = sealed;
    let b = ReplyB { request_id: p.request_id, offset_h2: h2_off.try_into().unwrap() };
    let c = ReplyC { request_id: p.request_id, name: p.name.to_owned(), pin: pin.to_owned() };
    Ok(Replies { a, b, c })
}

/// DS side (claims 3–4): open reply A with the identity, undo the PIN offset on H1, then the H1
/// offset on H2. A wrong PIN gives a wrong CDSK that only the CDS can tell apart (by design: a
/// local check would let whoever holds replies A and B try every PIN offline); `sslx vsu
/// --confirm` finds out, and the CDS answers "denied".
pub fn assemble_cdsk(id: &Identity, a: &ReplyA, b: &ReplyB, pin: &str) -> Result<Cdsk> {
    if b.request_id != a.request_id {
        return Err(Error::VerifyFailed(format!(
            "reply B is for request {}, but reply A is for request {}: the two halves come from different requests",
            request_id_hex(&b.request_id),
            request_id_hex(&a.request_id)
        )));
    }
    let pin = normalize_pin(pin)?;
    let h1_off = crypto::hpke_open(&id.x25519, &a.enc, labels::VSU_REPLY_A, &a.aad()?, &a.sealed_h1)
        .map(zeroize::Zeroizing::new)
        .ok_or_else(|| {
            Error::VerifyFailed(
                "reply A does not open with this machine's key: it was sealed to another key, or altered".into(),
            )
        })?;
    let h1 = zeroize::Zeroizing::new(crypto::offset(&h1_off, pin.as_bytes(), labels::VSU_H1_BY_PIN));
    let h2 = zeroize::Zeroizing::new(crypto::offset(&b.offset_h2, &h1, labels::VSU_H2_BY_H1));
    let mut k = [0u8; 32];
    k[..16].copy_from_slice(&h1);
    k[16..].copy_from_slice(&h2);
    Ok(Secret::new(k))
}

/// The sent value: `HMAC(CDSK, "confirm" ‖ request id ‖ nonce)`.
pub fn sent_value(cdsk: &Cdsk, request_id: &RequestId, nonce: &[u8; 32]) -> [u8; 32] {
    crypto::hmac_sha256(cdsk.expose(), &[labels::VSU_SENT_VALUE, request_id, nonce])
}

/// DS side (claim 5): the confirmation wrapped in the CDSK, bound to the connection's
/// `challenge`. Returns it with its nonce.
pub fn make_confirm(
    cdsk: &Cdsk,
    request_id: &RequestId,
    challenge: &[u8; CHALLENGE_LEN],
    rng: &dyn SecureRandom,
) -> (Confirm, [u8; 32]) {
    let nonce: [u8; 32] = crypto::random_array(rng);
    let mut plain = nonce.to_vec();
    plain.extend_from_slice(&sent_value(cdsk, request_id, &nonce));
    let wrapped = crypto::wrap(cdsk.expose(), labels::VSU_CONFIRM, &confirm_aad(request_id, challenge), &plain, rng);
    (Confirm { request_id: *request_id, wrapped }, nonce)
}

/// CDS side (claim 6): unwraps a confirmation that arrived on the connection with `challenge`
/// and recomputes the sent value. `Some(nonce)` if it holds.
pub fn check_confirm(cdsk: &Cdsk, c: &Confirm, challenge: &[u8; CHALLENGE_LEN]) -> Option<[u8; 32]> {
    let plain = crypto::unwrap(cdsk.expose(), labels::VSU_CONFIRM, &confirm_aad(&c.request_id, challenge), &c.wrapped)?;
    let nonce: [u8; 32] = plain.get(..32)?.try_into().ok()?;
    let sent = plain.get(32..64)?;
    crypto::ct_eq(sent, &sent_value(cdsk, &c.request_id, &nonce)).then_some(nonce)
}

pub fn make_confirmed(cdsk: &Cdsk, request_id: &RequestId, body: &ConfirmedBody, rng: &dyn SecureRandom) -> Confirmed {
    let wrapped =
        crypto::wrap(cdsk.expose(), labels::VSU_CONFIRMED, &wrap_aad(TYPE_CONFIRMED, request_id), &body.encode(), rng);
    Confirmed { request_id: *request_id, wrapped }
}

/// DS side: the CDS's answer must open under the CDSK and echo our nonce.
pub fn open_confirmed(cdsk: &Cdsk, c: &Confirmed, request_id: &RequestId, nonce: &[u8; 32]) -> Result<ConfirmedBody> {
    let bad = || Error::VerifyFailed("the CDS's 'confirmed' answer did not verify under the assembled key".into());
    if &c.request_id != request_id {
        return Err(bad());
    }
    let plain = crypto::unwrap(cdsk.expose(), labels::VSU_CONFIRMED, &wrap_aad(TYPE_CONFIRMED, request_id), &c.wrapped)
        .ok_or_else(bad)?;
    let body = ConfirmedBody::decode(&plain)?;
    if !crypto::ct_eq(&body.nonce, nonce) {
        return Err(bad());
    }
    Ok(body)
}

/// CDS side (claim 7): "denied", sealed to the DS and signed by the CDS, for the confirmation
/// that came on the connection with `challenge`.
pub fn make_denied(
    cds_sign_seed: &Secret<32>,
    ds_x25519: &[u8; 32],
    request_id: &RequestId,
    challenge: &[u8; CHALLENGE_LEN],
    attempts_left: u8,
    reason: &str,
    rng: &dyn SecureRandom,
) -> Result<Denied> {
    let mut plain = vec![attempts_left];
    crate::wire::put_str16(&mut plain, reason)?;
    let (enc, sealed) =
        crypto::hpke_seal(ds_x25519, labels::VSU_DENIED, &wrap_aad(TYPE_DENIED, request_id), &plain, rng)
            .ok_or_else(|| Error::Other("the DS's X25519 key is not valid".into()))?;
    let mut d = Denied { request_id: *request_id, enc, sealed, signature: [0; 64] };
    d.signature = crypto::ed25519_sign(cds_sign_seed.expose(), &d.signed_bytes(challenge));
    Ok(d)
}

/// DS side (claim 8): a genuine "denied" opens with our key and carries the CDS's signature
/// over our connection's `challenge`. Returns the attempts left and the reason.
pub fn open_denied(
    id: &Identity,
    cds_sign_key: &[u8; 32],
    d: &Denied,
    request_id: &RequestId,
    challenge: &[u8; CHALLENGE_LEN],
) -> Result<(u8, String)> {
    let bad = || {
        Error::VerifyFailed(
            "a 'denied' answer arrived that is not from the CDS (bad signature or seal); ignored".into(),
        )
    };
    if &d.request_id != request_id || !crypto::ed25519_verify(cds_sign_key, &d.signed_bytes(challenge), &d.signature) {
        return Err(bad());
    }
    let plain =
        crypto::hpke_open(&id.x25519, &d.enc, labels::VSU_DENIED, &wrap_aad(TYPE_DENIED, request_id), &d.sealed)
            .ok_or_else(bad)?;
    let mut r = crate::wire::Reader::new(&plain);
    let left = r.u8("attempts left")?;
    let reason = r.str16("reason")?.to_owned();
    r.finish()?;
    Ok((left, reason))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setup() -> (ring::rand::SystemRandom, Identity, Cdsk, Replies) {
        let rng = ring::rand::SystemRandom::new();
        let id = Identity::generate("alice", &rng).unwrap();
        let cdsk = Secret::random(&rng);
        let p = ReplyParams {
            request_id: [9; 16],
            name: "alice",
            ds_public: &id.public(),
            expires: 99,
            cds_http: "http://x",
            cds_addresses: "",
            cds_sign_key: [1; 32],
        };
        let r = make_replies(&cdsk, "1A2B3C", &p, &rng).unwrap();
        (rng, id, cdsk, r)
    }

    #[test]
    fn assembles_the_cdsk_with_the_right_pin() {
        let (_, id, cdsk, r) = setup();
        assert!(assemble_cdsk(&id, &r.a, &r.b, "1a2b3c").unwrap().ct_eq(&cdsk));
        assert!(!assemble_cdsk(&id, &r.a, &r.b, "1A2B3D").unwrap().ct_eq(&cdsk));
    }

    #[test]
    fn confirm_round_trip_and_wrong_key() {
        let (rng, _, cdsk, _) = setup();
        let (c, nonce) = make_confirm(&cdsk, &[9; 16], &[7; 32], &rng);
        assert_eq!(check_confirm(&cdsk, &c, &[7; 32]), Some(nonce));
        assert_eq!(check_confirm(&Secret::random(&rng), &c, &[7; 32]), None);
        // Replayed on another connection (another challenge): it does not verify.
        assert_eq!(check_confirm(&cdsk, &c, &[8; 32]), None);
    }

    #[test]
    fn denied_round_trip_and_forgery() {
        let (rng, id, _, _) = setup();
        let seed = Secret::random(&rng);
        let pk = crypto::ed25519_public(seed.expose());
        let d = make_denied(&seed, &id.public().x25519, &[9; 16], &[5; 32], 2, "mismatch", &rng).unwrap();
        assert_eq!(open_denied(&id, &pk, &d, &[9; 16], &[5; 32]).unwrap(), (2, "mismatch".into()));
        assert!(open_denied(&id, &[3; 32], &d, &[9; 16], &[5; 32]).is_err());
        // A denial given on another connection is not an answer to this confirmation.
        assert!(open_denied(&id, &pk, &d, &[9; 16], &[6; 32]).is_err());
    }
}
