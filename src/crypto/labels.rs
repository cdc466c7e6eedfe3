//! Every fixed, versioned label sslx feeds to a KDF, MAC, signature or HPKE `info`.

/// Salt of the offset function: `X offset by V`.
pub const OFFSET_SALT: &[u8] = b"sslx-offset-v1";
/// Offset of H1 by the PIN (reply A).
pub const VSU_H1_BY_PIN: &[u8] = b"sslx-vsu-h1-by-pin-v1";
/// Offset of H2 by H1 (reply B).
pub const VSU_H2_BY_H1: &[u8] = b"sslx-vsu-h2-by-h1-v1";
/// HPKE `info` of reply A.
pub const VSU_REPLY_A: &[u8] = b"sslx-vsu-reply-a-v1";
/// Ed25519 context of the open request.
pub const VSU_OPEN_REQUEST: &[u8] = b"sslx-vsu-open-request-v1";
/// Symmetric wrap of the confirmation under the CDSK.
pub const VSU_CONFIRM: &[u8] = b"sslx-vsu-confirm-v1";
/// The sent value inside the confirmation: `HMAC(CDSK, "confirm" ‖ request id ‖ nonce)`.
pub const VSU_SENT_VALUE: &[u8] = b"confirm";
/// Symmetric wrap of the CDS's "confirmed" answer under the CDSK.
pub const VSU_CONFIRMED: &[u8] = b"sslx-vsu-confirmed-v1";
/// HPKE `info` of the denied message, and the context of the CDS's signature over it.
pub const VSU_DENIED: &[u8] = b"sslx-vsu-denied-v1";
/// Renewal (5.8): the renew request's wrap under the current CDSK.
pub const VSU_RENEW: &[u8] = b"sslx-vsu-renew-v1";
/// Renewal: the renewed answer's wrap under the current CDSK.
pub const VSU_RENEWED: &[u8] = b"sslx-vsu-renewed-v1";
/// Renewal: HPKE `info` of the new CDSK sealed to the participant's registered X25519 key.
pub const VSU_RENEWED_KEY: &[u8] = b"sslx-vsu-renewed-key-v1";
/// Renewal: the CDS's derivation of the new CDSK (HKDF salt).
pub const VSU_RENEW_DERIVE: &[u8] = b"sslx-vsu-renew-derive-v1";
/// Renewal: the renew confirmation's wrap under the new CDSK.
pub const VSU_RENEW_CONFIRM: &[u8] = b"sslx-vsu-renew-confirm-v1";
/// Renewal: the CDS's answer to it, under the new CDSK.
pub const VSU_RENEW_CONFIRMED: &[u8] = b"sslx-vsu-renew-confirmed-v1";

/// The call manager (section 5C) and the mailbox (5D.5): the AEAD wraps under the CDSK.
pub mod relay {
    pub const ON_HOOK_LABEL: &[u8] = b"sslx-relay-on-hook-v1";
    pub const HOOK_OK_LABEL: &[u8] = b"sslx-relay-hook-ok-v1";
    pub const RING_LABEL: &[u8] = b"sslx-relay-ring-v1";
    pub const ANSWER_LABEL: &[u8] = b"sslx-relay-answer-v1";
    pub const CALL_LABEL: &[u8] = b"sslx-relay-call-v1";
    pub const CALL_OK_LABEL: &[u8] = b"sslx-relay-call-ok-v1";
    pub const TICKET_PUSH_LABEL: &[u8] = b"sslx-relay-ticket-push-v1";
    pub const KEEPALIVE_LABEL: &[u8] = b"sslx-relay-keepalive-v1";
    pub const HOOK_REPLACED_LABEL: &[u8] = b"sslx-relay-hook-replaced-v1";
    pub const MAILBOX_NOTICE_LABEL: &[u8] = b"sslx-mailbox-notice-v1";
    pub const DEPOSIT_LABEL: &[u8] = b"sslx-mailbox-deposit-v1";
    pub const DEPOSIT_OK_LABEL: &[u8] = b"sslx-mailbox-deposit-ok-v1";
    pub const COLLECT_LABEL: &[u8] = b"sslx-mailbox-collect-v1";
    pub const DELIVERY_LABEL: &[u8] = b"sslx-mailbox-delivery-v1";
    pub const COLLECTED_LABEL: &[u8] = b"sslx-mailbox-collected-v1";
    pub const STATUS_LABEL: &[u8] = b"sslx-mailbox-status-v1";
    pub const STATUS_OK_LABEL: &[u8] = b"sslx-mailbox-status-ok-v1";
}

/// Session tokens (section 5E): sealing and the body key.
pub mod token {
    /// HPKE `info` of a sealed token.
    pub const SEAL_INFO: &[u8] = b"sslx-token-v2";
    /// HPKE exporter context of a sealed token's body key.
    pub const BODY_KEY_CONTEXT: &[u8] = b"sslx-token-body-v1";
    /// HKDF salt of the sealing ephemeral's key material (from the minter's X25519 key).
    pub const EPHEMERAL_SALT: &[u8] = b"sslx-token-ephemeral-v1";
}

/// The out-of-band dialogue of session tokens (5E): the query, the answer, the data.
pub mod token_oob {
    pub const AUTH_LABEL: &[u8] = b"sslx-token-query-v2";
    pub const ANSWER_LABEL: &[u8] = b"sslx-token-answer-v1";
    pub const DATA_INFO: &[u8] = b"sslx-token-data-v2";
}

/// AH-CDS (section 5A): the session request and the grant.
pub mod broker {
    pub const REQUEST_LABEL: &[u8] = b"sslx-ah-request-v1";
    pub const GRANT_LABEL: &[u8] = b"sslx-ah-grant-v1";
}

/// The ticket for the peer (5A).
pub mod ticket {
    pub const TICKET_LABEL: &[u8] = b"sslx-ah-ticket-v1";
}

/// The seed-002 handshake (5B): the master key, the Key-ID, the finished MACs.
pub mod session {
    pub const MK_LABEL: &[u8] = b"sslx-mk-v1";
    pub const KEY_ID_LABEL: &[u8] = b"sslx-key-id-v1";
    pub const FINISHED_LABEL: &[u8] = b"sslx-finished-v1";
}

/// Pairing (5D.1): the proofs, the short string, the long-term key, the confirmation.
pub mod pair {
    pub const PROOF_LABEL: &[u8] = b"sslx-pair-proof-v1";
    pub const SAS_LABEL: &[u8] = b"sslx-pair-sas-v1";
    pub const LTK_SALT: &[u8] = b"sslx-pair-ltk-v1";
    pub const CONFIRM_LABEL: &[u8] = b"sslx-pair-confirm-v1";
}

/// Transfer packets (5D.2-5D.4): the proofs and the bundle AEAD.
pub mod courier {
    pub const DELTA_LABEL: &[u8] = b"sslx-courier-delta-v1";
    pub const DIRECTION_SALT: &[u8] = b"sslx-courier-direction-v1";
    pub const AEAD_SALT: &[u8] = b"sslx-courier-v1";
    pub const AEAD_LABEL: &[u8] = b"sslx-courier-aead-v1";
}

/// The CDS's secrets at rest.
pub mod cds {
    /// Label of the at-rest wrap of the CDS's secrets.
    pub const AT_REST_LABEL: &[u8] = b"sslx-cds-at-rest-v1";
    /// HKDF label of the key that authenticates signals between CDS instances (from the
    /// at-rest key, which every instance of one store has).
    pub const SIGNAL_KEY_LABEL: &[u8] = b"sslx-cds-signal-key-v1";
}

/// The KDC (section 5F, seed 003): the gateway's requests and the answers, the tickets, the
/// wrapped session keys, the pre-authentication and the authenticators.
pub mod kdc {
    pub const PARAMS_REQUEST: &[u8] = b"sslx-kdc-params-request-v1";
    pub const PARAMS: &[u8] = b"sslx-kdc-params-v1";
    pub const AS_REQUEST: &[u8] = b"sslx-kdc-as-request-v1";
    pub const AS_REPLY: &[u8] = b"sslx-kdc-as-reply-v1";
    pub const TGS_REQUEST: &[u8] = b"sslx-kdc-tgs-request-v1";
    pub const TGS_REPLY: &[u8] = b"sslx-kdc-tgs-reply-v1";
    pub const TGT: &[u8] = b"sslx-kdc-tgt-v1";
    pub const SERVICE_TICKET: &[u8] = b"sslx-kdc-service-ticket-v1";
    pub const KEY_FOR_USER: &[u8] = b"sslx-kdc-key-for-user-v1";
    pub const KEY_FOR_GATEWAY: &[u8] = b"sslx-kdc-key-for-gateway-v1";
    pub const PREAUTH: &[u8] = b"sslx-kdc-preauth-v1";
    /// The authenticator a gateway gives the KDC with a TGT (box 1506).
    pub const TGS_AUTHENTICATOR: &[u8] = b"sslx-kdc-tgs-authenticator-v1";
    /// The salt the KDC answers for a name it does not know (so the answer tells nothing).
    pub const DECOY_SALT: &[u8] = b"sslx-kdc-decoy-salt-v1";
}
