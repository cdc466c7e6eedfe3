//! Every message decoder of every protocol over the same bytes: each one that accepts them
//! must give them back when re-encoding (encodings are canonical), and nothing panics. The
//! bodies inside wraps (relay, mailbox, tickets, grants) are decoded too.
#![no_main]
use libfuzzer_sys::fuzz_target;
use sslx::wire::Msg;

fn check<M: Msg>(bytes: &[u8]) {
    if let Ok(m) = M::from_bytes(bytes) {
        assert_eq!(m.to_frame().expect("a decoded message encodes"), bytes, "{} is not canonical", M::NAME);
    }
}

fuzz_target!(|data: &[u8]| {
    use sslx::courier::msgs::*;
    use sslx::relay::*;
    use sslx::vsu::*;
    check::<sslx::wire::CdsHello>(data);
    check::<sslx::wire::Refused>(data);
    check::<OpenRequest>(data);
    check::<ReplyA>(data);
    check::<Confirm>(data);
    check::<Confirmed>(data);
    check::<Denied>(data);
    check::<Renew>(data);
    check::<Renewed>(data);
    check::<RenewConfirm>(data);
    check::<RenewConfirmed>(data);
    check::<sslx::kdc::ParamsRequest>(data);
    check::<sslx::kdc::Params>(data);
    check::<sslx::kdc::AsRequest>(data);
    check::<sslx::kdc::AsReply>(data);
    check::<sslx::kdc::TgsRequest>(data);
    check::<sslx::kdc::TgsReply>(data);
    check::<sslx::session::M1>(data);
    check::<sslx::session::M2>(data);
    check::<sslx::session::msgs::ListenerHello>(data);
    check::<sslx::broker::SessionRequest>(data);
    check::<sslx::broker::SessionGrant>(data);
    check::<OnHook>(data);
    check::<HookOk>(data);
    check::<Ring>(data);
    check::<Answer>(data);
    check::<Call>(data);
    check::<CallOk>(data);
    check::<TicketPush>(data);
    check::<Keepalive>(data);
    check::<HookReplaced>(data);
    check::<MailboxNotice>(data);
    check::<Deposit>(data);
    check::<DepositOk>(data);
    check::<Collect>(data);
    check::<Delivery>(data);
    check::<Collected>(data);
    check::<Status>(data);
    check::<StatusOk>(data);
    check::<PairA1>(data);
    check::<PairB>(data);
    check::<PairA2>(data);
    check::<PairConfirm>(data);
    check::<TransferA1>(data);
    check::<TransferB>(data);
    check::<TransferA2>(data);
    check::<Ack>(data);
    check::<Trailer>(data);
    check::<Receipt>(data);
    // Bodies carried inside wraps.
    let _ = (CallBody::decode(data), RingBody::decode(data), NonceBody::decode(data), IdBody::decode(data));
    let _ = HookBody::decode(data);
    if let Ok(b) = HookOkBody::decode(data) {
        assert_eq!(b.encode(), data);
    }
    if let Ok(d) = DepositBody::decode(data) {
        assert_eq!(d.encode().unwrap(), data);
    }
    if let Ok(t) = sslx::broker::Ticket::decode(data) {
        assert_eq!(t.encode().unwrap(), data);
        assert!(t.open(&sslx::crypto::Secret::new([1; 32])).is_none());
    }
    let _ = ConfirmedBody::decode(data);
    if let Ok(b) = RenewedBody::decode(data) {
        assert_eq!(b.encode(), data);
    }
    if let Ok(b) = RenewConfirmedBody::decode(data) {
        assert_eq!(b.encode(), data);
    }
    if let Ok(b) = sslx::execd::ExecCommand::decode(data) {
        assert_eq!(b.encode().unwrap(), data);
    }
    if let Ok(b) = sslx::execd::ExecDecision::decode(data) {
        assert_eq!(b.encode().unwrap(), data);
    }
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = sslx::execd::acl::Acl::parse(text, "fuzz");
    }
    // An audit file: never a panic; what verifies ends its lines and counts them.
    if let Ok(v) = sslx::execd::audit::verify_bytes(data) {
        let lines = data.iter().filter(|&&b| b == b'\n').count() as u64;
        assert!(data.is_empty() || (data.ends_with(b"\n") && v.records == lines));
    }
    if let Ok(b) = sslx::kdc::ParamsRequestBody::decode(data) {
        assert_eq!(b.encode().unwrap(), data);
    }
    if let Ok(b) = sslx::kdc::Argon2Params::decode(data) {
        assert_eq!(b.encode(), data);
    }
    if let Ok(b) = sslx::kdc::AsRequestBody::decode(data) {
        assert_eq!(b.encode().unwrap(), data);
    }
    if let Ok(b) = sslx::kdc::AsReplyBody::decode(data) {
        assert_eq!(b.encode().unwrap(), data);
    }
    if let Ok(b) = sslx::kdc::TgsRequestBody::decode(data) {
        assert_eq!(b.encode().unwrap(), data);
    }
    if let Ok(b) = sslx::kdc::TgsReplyBody::decode(data) {
        assert_eq!(b.encode().unwrap(), data);
    }
    if let Ok(b) = sslx::kdc::TicketBody::decode(data) {
        assert_eq!(&b.encode().unwrap()[..], data);
    }
    if let Ok(b) = sslx::kdc::CredentialsCache::decode(data) {
        assert_eq!(&b.encode().unwrap()[..], data);
    }
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = sslx::kdc::CredentialsCache::from_text(text);
        let _ = sslx::kdc::keytab::KeyTable::parse(text, "fuzz");
    }
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = ReplyA::from_armor(text);
    }
});
