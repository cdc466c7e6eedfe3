//! Renewal of a CDSK before it expires (PROTOCOL.md 5.8): proved with the current key, the new
//! one sealed to the participant's registered X25519 key, and installed at the CDS only once the
//! participant proves it holds it. Both sides' steps; the CDS keeps nothing between them (it
//! derives the new key again from the renewal nonce).

use super::msgs::*;
use crate::crypto::{self, labels, Secret};
use crate::keys::Identity;
use crate::wire::{put_str8, CHALLENGE_LEN, VERSION};
use crate::{Error, Result};
use ring::rand::SecureRandom;

use super::assemble::Cdsk;

fn participant_aad(t: u8, name: &str, challenge: &[u8; CHALLENGE_LEN]) -> Result<Vec<u8>> {
    let mut a = vec![t, VERSION];
    put_str8(&mut a, name)?;
    a.extend_from_slice(challenge);
    Ok(a)
}

fn cds_aad(t: u8, nonce: &RenewalNonce) -> Vec<u8> {
    let mut a = vec![t, VERSION];
    a.extend_from_slice(nonce);
    a
}

/// What the CDS signs in an answer: `label ‖ challenge ‖ nonce ‖ wrapped`.
fn signed_answer(label: &[u8], challenge: &[u8; CHALLENGE_LEN], nonce: &RenewalNonce, wrapped: &[u8]) -> Vec<u8> {
    [label, challenge, nonce, wrapped].concat()
}

fn not_from_the_cds(what: &str) -> Error {
    Error::VerifyFailed(format!(
        "the {what} answer does not carry the signature of this home's CDS (not from the CDS, or tampered with)"
    ))
}

/// The associated data of the sealed new key: `str8 name ‖ nonce`.
fn sealed_key_aad(name: &str, nonce: &RenewalNonce) -> Result<Vec<u8>> {
    let mut a = Vec::new();
    put_str8(&mut a, name)?;
    a.extend_from_slice(nonce);
    Ok(a)
}

/// Participant: the renew request under the current key, bound to the connection's challenge.
pub fn make_renew(
    name: &str,
    current: &Cdsk,
    challenge: &[u8; CHALLENGE_LEN],
    nonce: &RenewalNonce,
    rng: &dyn SecureRandom,
) -> Result<Renew> {
    let aad = participant_aad(TYPE_RENEW, name, challenge)?;
    Ok(Renew { name: name.to_owned(), wrapped: crypto::wrap(current.expose(), labels::VSU_RENEW, &aad, nonce, rng) })
}

/// CDS: the renewal nonce, if the request opens under the participant's current key on this
/// connection.
pub fn open_renew(m: &Renew, current: &Cdsk, challenge: &[u8; CHALLENGE_LEN]) -> Option<RenewalNonce> {
    let aad = participant_aad(TYPE_RENEW, &m.name, challenge).ok()?;
    crypto::unwrap(current.expose(), labels::VSU_RENEW, &aad, &m.wrapped)?.try_into().ok()
}

/// CDS: the new key of a renewal, `HKDF-SHA256(salt = "sslx-vsu-renew-derive-v1", ikm = the CDS's
/// signing seed ‖ current CDSK, info = str8 name ‖ nonce)`. Only the CDS can make it (the seed),
/// it is another key once the current one changed, and the CDS need not keep it between the
/// renewal and its confirmation.
pub fn derive_renewed_cdsk(sign_seed: &Secret<32>, current: &Cdsk, name: &str, nonce: &RenewalNonce) -> Result<Cdsk> {
    let ikm = zeroize::Zeroizing::new([sign_seed.expose().as_slice(), current.expose()].concat());
    let mut out = zeroize::Zeroizing::new([0u8; 32]);
    crypto::hkdf(labels::VSU_RENEW_DERIVE, &sealed_key_aad(name, nonce)?, &ikm, out.as_mut());
    Ok(Secret::new(*out))
}

/// CDS: the answer, the new key sealed to the participant's registered X25519 key (so a holder
/// of the current CDSK alone cannot read it), wrapped under the current key, bound to the nonce
/// and signed over the connection's challenge (so a holder of the current CDSK cannot make one).
#[allow(clippy::too_many_arguments)]
pub fn make_renewed(
    sign_seed: &Secret<32>,
    challenge: &[u8; CHALLENGE_LEN],
    current: &Cdsk,
    x25519: &[u8; 32],
    name: &str,
    nonce: &RenewalNonce,
    new: &Cdsk,
    rng: &dyn SecureRandom,
) -> Result<Renewed> {
    let (enc, sealed) =
        crypto::hpke_seal(x25519, labels::VSU_RENEWED_KEY, &sealed_key_aad(name, nonce)?, new.expose(), rng)
            .ok_or_else(|| Error::Other("the participant's registered X25519 key is not valid".into()))?;
    let body =
        RenewedBody { enc, sealed: sealed.try_into().map_err(|_| Error::Other("HPKE ciphertext length".into()))? };
    let wrapped =
        crypto::wrap(current.expose(), labels::VSU_RENEWED, &cds_aad(TYPE_RENEWED, nonce), &body.encode(), rng);
    let signed = signed_answer(labels::VSU_RENEWED, challenge, nonce, &wrapped);
    Ok(Renewed { signature: crypto::ed25519_sign(sign_seed.expose(), &signed), wrapped })
}

/// Participant: the new key from the CDS's answer (signed by the CDS for our connection, it
/// must open under the current key for our nonce, then with our X25519 key).
pub fn open_renewed(
    m: &Renewed,
    cds_sign_key: &[u8; 32],
    challenge: &[u8; CHALLENGE_LEN],
    current: &Cdsk,
    id: &Identity,
    nonce: &RenewalNonce,
) -> Result<Cdsk> {
    if !crypto::ed25519_verify(
        cds_sign_key,
        &signed_answer(labels::VSU_RENEWED, challenge, nonce, &m.wrapped),
        &m.signature,
    ) {
        return Err(not_from_the_cds("'renewed'"));
    }
    let plain = crypto::unwrap(current.expose(), labels::VSU_RENEWED, &cds_aad(TYPE_RENEWED, nonce), &m.wrapped)
        .ok_or_else(|| {
            Error::VerifyFailed("the CDS's 'renewed' answer does not verify under the current CDS key".into())
        })?;
    let body = RenewedBody::decode(&plain)?;
    let key = crypto::hpke_open(
        &id.x25519,
        &body.enc,
        labels::VSU_RENEWED_KEY,
        &sealed_key_aad(&id.name, nonce)?,
        &body.sealed,
    )
    .map(zeroize::Zeroizing::new)
    .ok_or_else(|| {
        Error::VerifyFailed(
            "the new CDS key does not open with this home's identity: the CDS sealed it to the identity registered \
             at enrollment (was the identity replaced with keygen --force? enroll again with sslx vsu --prove-with)"
                .into(),
        )
    })?;
    Secret::from_slice(&key).ok_or_else(|| Error::Other("the renewed key is not 32 bytes".into()))
}

/// Participant: proof that it holds the new key, on a new connection.
pub fn make_renew_confirm(
    name: &str,
    new: &Cdsk,
    nonce: &RenewalNonce,
    challenge: &[u8; CHALLENGE_LEN],
    rng: &dyn SecureRandom,
) -> Result<RenewConfirm> {
    let mut aad = participant_aad(TYPE_RENEW_CONFIRM, name, challenge)?;
    aad.extend_from_slice(nonce);
    let wrapped = crypto::wrap(new.expose(), labels::VSU_RENEW_CONFIRM, &aad, &[], rng);
    Ok(RenewConfirm { name: name.to_owned(), nonce: *nonce, wrapped })
}

/// CDS: whether the renew confirmation opens under `key` on this connection.
pub fn check_renew_confirm(m: &RenewConfirm, key: &Cdsk, challenge: &[u8; CHALLENGE_LEN]) -> bool {
    let Ok(mut aad) = participant_aad(TYPE_RENEW_CONFIRM, &m.name, challenge) else { return false };
    aad.extend_from_slice(&m.nonce);
    crypto::unwrap(key.expose(), labels::VSU_RENEW_CONFIRM, &aad, &m.wrapped).is_some_and(|b| b.is_empty())
}

/// CDS: the new key is installed (or was already), signed over the connection's challenge.
pub fn make_renew_confirmed(
    sign_seed: &Secret<32>,
    challenge: &[u8; CHALLENGE_LEN],
    new: &Cdsk,
    nonce: &RenewalNonce,
    body: &RenewConfirmedBody,
    rng: &dyn SecureRandom,
) -> RenewConfirmed {
    let aad = cds_aad(TYPE_RENEW_CONFIRMED, nonce);
    let wrapped = crypto::wrap(new.expose(), labels::VSU_RENEW_CONFIRMED, &aad, &body.encode(), rng);
    let signed = signed_answer(labels::VSU_RENEW_CONFIRMED, challenge, nonce, &wrapped);
    RenewConfirmed { signature: crypto::ed25519_sign(sign_seed.expose(), &signed), wrapped }
}

/// Participant: the CDS's word that the new key is in place (signed by the CDS for our
/// connection, under the new key for our nonce).
pub fn open_renew_confirmed(
    m: &RenewConfirmed,
    cds_sign_key: &[u8; 32],
    challenge: &[u8; CHALLENGE_LEN],
    new: &Cdsk,
    nonce: &RenewalNonce,
) -> Result<RenewConfirmedBody> {
    let signed = signed_answer(labels::VSU_RENEW_CONFIRMED, challenge, nonce, &m.wrapped);
    if !crypto::ed25519_verify(cds_sign_key, &signed, &m.signature) {
        return Err(not_from_the_cds("'renew confirmed'"));
    }
    let plain =
        crypto::unwrap(new.expose(), labels::VSU_RENEW_CONFIRMED, &cds_aad(TYPE_RENEW_CONFIRMED, nonce), &m.wrapped)
            .ok_or_else(|| {
                Error::VerifyFailed("the CDS's 'renew confirmed' answer does not verify under the new CDS key".into())
            })?;
    Ok(RenewConfirmedBody::decode(&plain)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_renewal_round_trips_and_each_step_is_bound_to_its_key_nonce_and_connection() {
        let rng = crypto::system_rng();
        let id = Identity::generate("web1", &rng).unwrap();
        let other = Identity::generate("web1", &rng).unwrap();
        let seed = Secret::new([3; 32]);
        let current = Secret::new([1; 32]);
        let (ch1, ch2) = ([7u8; 32], [8u8; 32]);
        let nonce = [5u8; 16];

        let r = make_renew("web1", &current, &ch1, &nonce, &rng).unwrap();
        assert_eq!(open_renew(&r, &current, &ch1), Some(nonce));
        assert_eq!(open_renew(&r, &current, &ch2), None, "another connection");
        assert_eq!(open_renew(&r, &Secret::new([2; 32]), &ch1), None, "another key");

        let new = derive_renewed_cdsk(&seed, &current, "web1", &nonce).unwrap();
        assert!(!new.ct_eq(&current));
        assert!(new.ct_eq(&derive_renewed_cdsk(&seed, &current, "web1", &nonce).unwrap()), "stateless");
        assert!(!new.ct_eq(&derive_renewed_cdsk(&seed, &current, "web1", &[6; 16]).unwrap()));
        assert!(!new.ct_eq(&derive_renewed_cdsk(&seed, &new, "web1", &nonce).unwrap()), "after the swap");
        assert!(!new.ct_eq(&derive_renewed_cdsk(&Secret::new([4; 32]), &current, "web1", &nonce).unwrap()));

        let cds = crypto::ed25519_public(seed.expose());
        let x = id.public().x25519;
        let m = make_renewed(&seed, &ch1, &current, &x, "web1", &nonce, &new, &rng).unwrap();
        assert!(open_renewed(&m, &cds, &ch1, &current, &id, &nonce).unwrap().ct_eq(&new));
        assert!(open_renewed(&m, &cds, &ch1, &current, &id, &[6; 16]).is_err(), "another renewal's answer");
        assert!(open_renewed(&m, &cds, &ch1, &current, &other, &nonce).is_err(), "another identity");
        assert!(open_renewed(&m, &cds, &ch1, &new, &id, &nonce).is_err(), "not under the current key");
        assert!(open_renewed(&m, &cds, &ch2, &current, &id, &nonce).is_err(), "another connection");
        // One made by a holder of the current key alone (not the CDS) is refused.
        let forged = make_renewed(&Secret::new([9; 32]), &ch1, &current, &x, "web1", &nonce, &current, &rng).unwrap();
        assert!(open_renewed(&forged, &cds, &ch1, &current, &id, &nonce).is_err());

        let c = make_renew_confirm("web1", &new, &nonce, &ch2, &rng).unwrap();
        assert!(check_renew_confirm(&c, &new, &ch2));
        assert!(!check_renew_confirm(&c, &new, &ch1));
        assert!(!check_renew_confirm(&c, &current, &ch2));
        let mut moved = c.clone();
        moved.nonce = [6; 16];
        assert!(!check_renew_confirm(&moved, &new, &ch2), "the clear nonce is bound in");

        let body = RenewConfirmedBody { renewed_at: 10, key_expires: 20 };
        let done = make_renew_confirmed(&seed, &ch2, &new, &nonce, &body, &rng);
        assert_eq!(open_renew_confirmed(&done, &cds, &ch2, &new, &nonce).unwrap(), body);
        assert!(open_renew_confirmed(&done, &cds, &ch2, &current, &nonce).is_err());
        assert!(open_renew_confirmed(&done, &cds, &ch2, &new, &[6; 16]).is_err());
        assert!(open_renew_confirmed(&done, &cds, &ch1, &new, &nonce).is_err(), "another connection");
        let forged = make_renew_confirmed(&Secret::new([9; 32]), &ch2, &new, &nonce, &body, &rng);
        assert!(open_renew_confirmed(&forged, &cds, &ch2, &new, &nonce).is_err());
    }
}
