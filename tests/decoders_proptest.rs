//! Property tests: random and mutated bytes thrown at every decoder (VSU, AH-CDS, sessions, relay,
//! courier packets; the bundle, payload and tar decoders are in courier_proptest.rs). None may
//! panic; whatever a frame decoder accepts must re-encode to exactly the input (canonical).

use proptest::prelude::*;
use sslx::keys::{decode_line, Identity, LineKind};
use sslx::vsu::*;
use sslx::wire::{read_frame, Frame, Msg};
use std::collections::BTreeMap;

fn vector_frames(file: &str, keys: &[&str]) -> Vec<Vec<u8>> {
    let text =
        std::fs::read_to_string(format!("{}/tests/vectors/{file}", env!("CARGO_MANIFEST_DIR"))).expect("vector file");
    let f: BTreeMap<&str, &str> = text.lines().filter_map(|l| l.split_once(": ")).collect();
    keys.iter().map(|k| hex::decode(f[k]).unwrap()).collect()
}

/// Every valid frame of the vectors: VSU, AH-CDS, and a session.
fn transcript_frames() -> Vec<Vec<u8>> {
    let mut v = vector_frames(
        "wire/vsu_transcript.txt",
        &["open_request", "reply_a", "reply_a_announcing", "confirm", "confirmed", "denied", "refused"],
    );
    v.extend(vector_frames("wire/vsu_renewal.txt", &["renew", "renewed", "renew_confirm", "renew_confirmed"]));
    v.extend(vector_frames(
        "kdc/transcript.txt",
        &["params_request", "params", "as_request", "as_reply", "tgs_request", "tgs_reply"],
    ));
    v.extend(vector_frames("wire/ah_cds.txt", &["session_request", "session_grant", "ticket"]));
    v.extend(vector_frames(
        "session/transcript_aes256gcm_no_fs.txt",
        &["m1", "m2", "m3", "m4", "client_data", "client_final"],
    ));
    v.extend(vector_frames("session/listener_hello.txt", &["frame"]));
    v.extend(vector_frames(
        "wire/relay.txt",
        &["on_hook", "hook_ok", "call", "ring", "ring_answer_elsewhere", "answer", "call_ok", "ticket_push"],
    ));
    v.extend(vector_frames("courier/pairing.txt", &["a1", "b", "a2"]));
    v.extend(vector_frames(
        "wire/mailbox.txt",
        &[
            "deposit",
            "deposit_ok",
            "collect",
            "delivery",
            "collected",
            "status",
            "status_ok",
            "transfer_b",
            "ack",
            "receipt",
        ],
    ));
    // The offline bundle's transfer packets A1 and A2 (the file starts with them).
    let bundle =
        std::fs::read(format!("{}/tests/vectors/courier/bundle_3des.sslx", env!("CARGO_MANIFEST_DIR"))).unwrap();
    let mut at = 0;
    for _ in 0..2 {
        let len = 6 + u32::from_be_bytes(bundle[at + 2..at + 6].try_into().unwrap()) as usize;
        v.push(bundle[at..at + len].to_vec());
        at += len;
    }
    v
}

/// Decodes with every frame decoder; each that accepts must give the input back.
fn all_decoders(bytes: &[u8]) {
    fn check<M: Msg>(bytes: &[u8]) {
        if let Ok(m) = M::from_bytes(bytes) {
            assert_eq!(m.to_frame().unwrap(), bytes, "{} is not canonical", M::NAME);
        }
    }
    check::<sslx::wire::CdsHello>(bytes);
    check::<OpenRequest>(bytes);
    check::<ReplyA>(bytes);
    check::<Confirm>(bytes);
    check::<Confirmed>(bytes);
    check::<Denied>(bytes);
    check::<Renew>(bytes);
    check::<Renewed>(bytes);
    check::<RenewConfirm>(bytes);
    check::<RenewConfirmed>(bytes);
    check::<sslx::kdc::ParamsRequest>(bytes);
    check::<sslx::kdc::Params>(bytes);
    check::<sslx::kdc::AsRequest>(bytes);
    check::<sslx::kdc::AsReply>(bytes);
    check::<sslx::kdc::TgsRequest>(bytes);
    check::<sslx::kdc::TgsReply>(bytes);
    check::<Refused>(bytes);
    check::<sslx::session::M1>(bytes);
    check::<sslx::session::M2>(bytes);
    check::<sslx::session::msgs::ListenerHello>(bytes);
    check::<sslx::broker::SessionRequest>(bytes);
    check::<sslx::broker::SessionGrant>(bytes);
    check::<sslx::relay::OnHook>(bytes);
    check::<sslx::relay::HookOk>(bytes);
    check::<sslx::relay::Ring>(bytes);
    check::<sslx::relay::Answer>(bytes);
    check::<sslx::relay::Call>(bytes);
    check::<sslx::relay::CallOk>(bytes);
    check::<sslx::relay::TicketPush>(bytes);
    check::<sslx::relay::Keepalive>(bytes);
    check::<sslx::relay::HookReplaced>(bytes);
    check::<sslx::relay::MailboxNotice>(bytes);
    check::<sslx::relay::Deposit>(bytes);
    check::<sslx::relay::DepositOk>(bytes);
    check::<sslx::relay::Collect>(bytes);
    check::<sslx::relay::Delivery>(bytes);
    check::<sslx::relay::Collected>(bytes);
    check::<sslx::relay::Status>(bytes);
    check::<sslx::relay::StatusOk>(bytes);
    {
        use sslx::courier::msgs::*;
        check::<PairA1>(bytes);
        check::<PairB>(bytes);
        check::<PairA2>(bytes);
        check::<PairConfirm>(bytes);
        check::<TransferA1>(bytes);
        check::<TransferB>(bytes);
        check::<TransferA2>(bytes);
        check::<Ack>(bytes);
        check::<Trailer>(bytes);
        check::<Receipt>(bytes);
    }
    // Every relay and mailbox body the CDS or a participant decodes: whatever one accepts is
    // canonical (it re-encodes to exactly the input: no trailing or alternative bytes).
    {
        use sslx::relay::*;
        macro_rules! canonical {
            ($($t:ty => $enc:expr),* $(,)?) => {$(
                if let Ok(m) = <$t>::decode(bytes) {
                    let f: fn(&$t) -> Vec<u8> = $enc;
                    assert_eq!(f(&m), bytes, "{} is not canonical", stringify!($t));
                }
            )*};
        }
        canonical!(
            NonceBody => |m| m.encode(),
            HookBody => |m| m.encode().unwrap(),
            IdBody => |m| m.encode(),
            TimeBody => |m| m.encode(),
            HookOkBody => |m| m.encode(),
            CallBody => |m| m.encode().unwrap(),
            RingBody => |m| m.encode().unwrap(),
            DeliveryBody => |m| m.encode().unwrap(),
            CollectedBody => |m| m.encode(),
            StatusBody => |m| m.encode().unwrap(),
            StatusOkBody => |m| m.encode().unwrap(),
            DepositBody => |m| m.encode().unwrap(),
        );
    }
    if let Ok(t) = sslx::broker::Ticket::decode(bytes) {
        assert_eq!(t.encode().unwrap(), bytes);
        assert!(t.open(&sslx::crypto::Secret::new([1; 32])).is_none());
    }
    if let Ok(t) = sslx::token::Token::from_bytes(bytes) {
        assert_eq!(t.to_bytes(), bytes, "a token is not canonical");
    }
    if let Ok(f) = Frame::parse(bytes) {
        assert_eq!(f.to_bytes(), bytes);
        // Any frame fed to a session's record receiver is rejected, never a panic.
        let key = sslx::crypto::Secret::new([3; 32]);
        for suite in [sslx::session::Suite::Aes256Gcm, sslx::session::Suite::ChaCha20Poly1305] {
            let mut r = sslx::session::RecordReceiver::new(suite, &key, [0; 32]);
            let mut body = f.body.clone();
            assert!(r.open(&f.header(), &mut body).is_err());
        }
        if let Ok(req) = sslx::broker::SessionRequest::from_frame(&f) {
            assert!(req.open(&key, &[0; 32]).is_none());
        }
    }
    let mut cursor = bytes;
    let _ = read_frame(&mut cursor);
    let _ = ConfirmedBody::decode(bytes);
    if let Ok(b) = RenewedBody::decode(bytes) {
        assert_eq!(b.encode(), bytes);
    }
    if let Ok(b) = RenewConfirmedBody::decode(bytes) {
        assert_eq!(b.encode(), bytes);
    }
    if let Ok(b) = sslx::execd::ExecCommand::decode(bytes) {
        assert_eq!(b.encode().unwrap(), bytes);
    }
    if let Ok(b) = sslx::execd::ExecDecision::decode(bytes) {
        assert_eq!(b.encode().unwrap(), bytes);
    }
    if let Ok(text) = std::str::from_utf8(bytes) {
        let _ = sslx::execd::acl::Acl::parse(text, "fuzz");
    }
    if let Ok(b) = sslx::kdc::ParamsRequestBody::decode(bytes) {
        assert_eq!(b.encode().unwrap(), bytes);
    }
    if let Ok(b) = sslx::kdc::Argon2Params::decode(bytes) {
        assert_eq!(b.encode(), bytes);
    }
    if let Ok(b) = sslx::kdc::AsRequestBody::decode(bytes) {
        assert_eq!(b.encode().unwrap(), bytes);
    }
    if let Ok(b) = sslx::kdc::AsReplyBody::decode(bytes) {
        assert_eq!(b.encode().unwrap(), bytes);
    }
    if let Ok(b) = sslx::kdc::TgsRequestBody::decode(bytes) {
        assert_eq!(b.encode().unwrap(), bytes);
    }
    if let Ok(b) = sslx::kdc::TgsReplyBody::decode(bytes) {
        assert_eq!(b.encode().unwrap(), bytes);
    }
    if let Ok(b) = sslx::kdc::TicketBody::decode(bytes) {
        assert_eq!(&b.encode().unwrap()[..], bytes);
    }
    if let Ok(b) = sslx::kdc::CredentialsCache::decode(bytes) {
        assert_eq!(&b.encode().unwrap()[..], bytes);
    }
    if let Ok(text) = std::str::from_utf8(bytes) {
        let _ = sslx::kdc::CredentialsCache::from_text(text);
        let _ = sslx::kdc::keytab::KeyTable::parse(text, "fuzz");
    }
}

/// The token of tests/vectors/token/token.txt and its keyring.
/// One valid encoding of every relay and mailbox body, for mutation.
fn relay_bodies() -> Vec<Vec<u8>> {
    use sslx::relay::*;
    let item = MailboxItem { item: 7, sender: "alice".into(), size: 330, bundle_id: [9; 8] };
    vec![
        NonceBody { nonce: [1; 16] }.encode(),
        HookBody { nonce: [1; 16], service: "files".into() }.encode().unwrap(),
        IdBody { id: [2; 16] }.encode(),
        TimeBody { time: 1_796_218_337 }.encode(),
        HookOkBody { time: 1_796_218_337, keepalive: 30 }.encode(),
        CallBody { callee: "bob".into(), nonce: [3; 16], service: "session".into() }.encode().unwrap(),
        RingBody { call_id: [4; 16], caller: "alice".into(), answer_at: None }.encode().unwrap(),
        RingBody { call_id: [4; 16], caller: "alice".into(), answer_at: Some("cds2:7450".into()) }.encode().unwrap(),
        DeliveryBody::Empty.encode().unwrap(),
        DeliveryBody::Item(item).encode().unwrap(),
        CollectedBody { nonce: [5; 16], item: 7, outcome: Outcome::Keep }.encode(),
        StatusBody { nonce: [6; 16], ids: vec![[7; 8], [8; 8]] }.encode().unwrap(),
        StatusOkBody { entries: vec![([7; 8], DeliveryState::Queued, 5), ([8; 8], DeliveryState::Expired, 6)] }
            .encode()
            .unwrap(),
        DepositBody { recipient: "bob".into(), nonce: [9; 16], size: 330, bundle_id: [1; 8], sha256: [2; 32] }
            .encode()
            .unwrap(),
    ]
}

fn token_vector() -> String {
    vector_frames_text("token/token.txt", "token")
}

fn token_keyring() -> String {
    format!("1 {}\n", vector_frames_text("token/token.txt", "public_key"))
}

fn vector_frames_text(file: &str, key: &str) -> String {
    let text =
        std::fs::read_to_string(format!("{}/tests/vectors/{file}", env!("CARGO_MANIFEST_DIR"))).expect("vector file");
    text.lines().find_map(|l| l.strip_prefix(&format!("{key}: ")).map(str::to_owned)).expect("field")
}

fn all_text_decoders(s: &str) {
    for k in [LineKind::Public, LineKind::SecretKey, LineKind::Cdsk, LineKind::ReplyB, LineKind::PairKey] {
        let _ = decode_line(k, s);
    }
    let _ = ReplyB::find_in(s);
    let _ = ReplyA::from_armor(s);
    let _ = Identity::from_file_text(s);
    let _ = ReplyC::pin_in(s);
    let _ = normalize_pin(s);
    let _ = sslx::courier::pair::normalize_short_string(s);
    if let Ok(t) = sslx::token::Token::decode(s) {
        assert_eq!(t.encode(), s.trim(), "a token is not canonical");
    }
    let _ = sslx::token::Fields::parse(s);
    let _ = sslx::token::Keyring::parse(s);
    let _ = sslx::cli::parse_duration(s);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        all_decoders(&bytes);
        all_text_decoders(&String::from_utf8_lossy(&bytes));
    }

    #[test]
    fn random_bytes_behind_a_valid_header_never_panic(t in prop::sample::select(vec![0x10u8, 0x11, 0x12, 0x13, 0x14, 0x1f, 0x20, 0x21, 0x30, 0x31, 0x33, 0x40, 0x41, 0x42, 0x43, 0x44, 0x45, 0x46, 0x47, 0x48, 0x49, 0x4a, 0x4b, 0x4c, 0x4d, 0x50, 0x51, 0x52, 0x53, 0x58, 0x59, 0x5a, 0x5b, 0x5c, 0x5d, 0x5e, 0x5f]), body in proptest::collection::vec(any::<u8>(), 0..300)) {
        let mut b = vec![t, 1];
        b.extend_from_slice(&(body.len() as u32).to_be_bytes());
        b.extend_from_slice(&body);
        all_decoders(&b);
    }

    #[test]
    fn mutated_frames_are_rejected_or_canonical(which in any::<prop::sample::Index>(), edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4), cut in any::<prop::sample::Index>(), truncate in any::<bool>()) {
        let frames = transcript_frames();
        let mut b = frames[which.index(frames.len())].clone();
        for (i, v) in edits {
            let i = i.index(b.len());
            b[i] = v;
        }
        if truncate {
            b.truncate(cut.index(b.len()));
        }
        all_decoders(&b);
    }

    #[test]
    fn mutated_tokens_are_refused_or_canonical(edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4), fix_crc in any::<bool>()) {
        use base64::Engine;
        let t = token_vector();
        let mut b = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(&t).unwrap();
        for (i, v) in edits {
            let i = i.index(b.len());
            b[i] = v;
        }
        if fix_crc {
            let n = b.len();
            let crc = crc32fast::hash(&b[..n - 4]);
            b[n - 4..].copy_from_slice(&crc.to_be_bytes());
        }
        all_decoders(&b);
        let text = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&b);
        all_text_decoders(&text);
        // Whatever decodes must still fail the signature unless it is the original.
        let ring = sslx::token::Keyring::parse(&token_keyring()).unwrap();
        let v = sslx::token::Verifier { keyring: &ring, me: None, now: 1_800_000_000, skew: 5, max_len: sslx::token::DEFAULT_MAX_LEN };
        if text != t {
            prop_assert!(sslx::token::verify(&text, &v).is_err());
        }
    }

    #[test]
    fn mutated_relay_bodies_are_rejected_or_canonical(which in any::<prop::sample::Index>(), edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..4), cut in any::<prop::sample::Index>(), truncate in any::<bool>(), extra in proptest::collection::vec(any::<u8>(), 0..3)) {
        let mut b = relay_bodies()[which.index(relay_bodies().len())].clone();
        for (i, v) in edits {
            if !b.is_empty() {
                let i = i.index(b.len());
                b[i] = v;
            }
        }
        if truncate {
            b.truncate(cut.index(b.len() + 1));
        }
        b.extend(extra);
        all_decoders(&b);
    }

    #[test]
    fn mutated_text_never_panics(s in "[ -~\n]{0,300}", prefix in prop::sample::select(vec!["sslx-reply-b1", "SSLX-CDSK-1", "sslx-pub1", "-----BEGIN SSLX REPLY A-----\n", "# sslx identity: a\nSSLX-SECRET-KEY-1"])) {
        all_text_decoders(&format!("{prefix}{s}"));
    }
}
