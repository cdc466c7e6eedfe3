//! Email for reply B (and `mailto:` out-of-band PINs): lettre over SMTP through rustls, or, for
//! `--dev` and `--outbox`, one `.eml` file per message (RFC 5322, as lettre formats it) in an
//! outbox folder, named after the request so that a person finds it: `RID.reply-b.eml` and
//! `RID.reply-c.eml`.

use lettre::message::header::ContentType;
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use std::path::PathBuf;

pub enum Mailer {
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    File(PathBuf),
}

fn is_loopback_host(h: &str) -> bool {
    h == "localhost" || h.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback()) || h == "[::1]"
}

impl Mailer {
    /// `smtp://[user:pass@]host[:port][?tls=required|opportunistic|none]` (STARTTLS required by
    /// default, except to a loopback host), or `smtps://…` (TLS from the first byte). Without
    /// credentials in the URL, `SSLX_SMTP_USER` and `SSLX_SMTP_PASSWORD` are used if set.
    /// `ca_pem`: extra trusted root certificates (PEM) for the SMTP server's TLS certificate.
    /// Errors never show the URL's password (they name the URL as `redact_url` gives it).
    pub fn smtp(url: &str, ca_pem: Option<&[u8]>) -> Result<Self, String> {
        let shown = redact_url(url);
        let mut u = url::Url::parse(url).map_err(|e| format!("--smtp {shown:?}: {e}"))?;
        let host = u.host_str().ok_or_else(|| format!("--smtp {shown:?}: no host"))?.to_owned();
        let tls: Option<String> = u.query_pairs().find(|(k, _)| k == "tls").map(|(_, v)| v.into_owned());
        let others: Vec<(String, String)> =
            u.query_pairs().filter(|(k, _)| k != "tls").map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
        let tls = match (u.scheme(), tls.as_deref()) {
            ("smtp", None) if is_loopback_host(&host) => None,
            ("smtp", None) => Some("required".to_owned()),
            ("smtp", Some("none")) => None,
            (_, t) => t.map(str::to_owned),
        };
        u.set_query(None);
        if let Some(t) = &tls {
            u.query_pairs_mut().append_pair("tls", t);
        }
        if !others.is_empty() {
            return Err(format!("--smtp: unknown parameter {:?}", others[0].0));
        }
        let mut b = AsyncSmtpTransport::<Tokio1Executor>::from_url(u.as_str())
            .map_err(|e| format!("--smtp {shown:?}: {}", e.to_string().replace(u.password().unwrap_or("\0"), "***")))?;
        if let Some(pem) = ca_pem {
            use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
            let mut params = TlsParameters::builder(host.clone());
            for block in pem_blocks(pem) {
                params =
                    params.add_root_certificate(Certificate::from_pem(&block).map_err(|e| format!("--smtp-ca: {e}"))?);
            }
            let params = params.build_rustls().map_err(|e| format!("--smtp-ca: {e}"))?;
            b = match (u.scheme(), tls.as_deref()) {
                ("smtps", _) => b.tls(Tls::Wrapper(params)),
                (_, Some("required")) => b.tls(Tls::Required(params)),
                (_, Some("opportunistic")) => b.tls(Tls::Opportunistic(params)),
                _ => b,
            };
        }
        if u.password().is_none() {
            if let (Ok(user), Ok(pass)) = (std::env::var("SSLX_SMTP_USER"), std::env::var("SSLX_SMTP_PASSWORD")) {
                b = b.credentials(Credentials::new(user, pass));
            }
        }
        Ok(Mailer::Smtp(b.timeout(Some(std::time::Duration::from_secs(30))).build()))
    }

    /// Email as `.eml` files in `dir` (made 0700, refused when others can write in it; each
    /// file 0600: reply B lives there).
    pub fn outbox(dir: PathBuf) -> crate::Result<Self> {
        crate::keys::private_dir(&dir)?;
        Ok(Mailer::File(dir))
    }

    /// Where a message for `to` saved as `file` went, for the log.
    pub fn destination(&self, to: &str, file: &str) -> String {
        match self {
            Mailer::Smtp(_) => format!("emailed to {to}"),
            Mailer::File(d) => d.join(format!("{file}.eml")).display().to_string(),
        }
    }

    pub fn describe(&self) -> String {
        match self {
            Mailer::Smtp(_) => "SMTP".into(),
            Mailer::File(d) => format!("outbox {}", d.display()),
        }
    }

    /// Sends a plain-text email; the error says what the server answered. `file`: the name of
    /// the `.eml` in an outbox (without `.eml`).
    pub async fn send(&self, from: &str, to: &str, subject: &str, body: String, file: &str) -> Result<(), String> {
        let msg = Message::builder()
            .from(from.parse().map_err(|e| format!("sender {from:?}: {e}"))?)
            .to(to.parse().map_err(|e| format!("recipient {to:?}: {e}"))?)
            .subject(subject)
            .header(ContentType::TEXT_PLAIN)
            .body(body)
            .map_err(|e| format!("building the email: {e}"))?;
        match self {
            Mailer::Smtp(t) => t.send(msg).await.map(drop).map_err(|e| format!("SMTP delivery to {to} failed: {e}")),
            Mailer::File(dir) => {
                let path = dir.join(format!("{file}.eml"));
                let bytes = msg.formatted();
                tokio::task::spawn_blocking(move || crate::keys::write_atomic(&path, &bytes, 0o600))
                    .await
                    .map_err(|e| e.to_string())?
                    .map_err(|e| format!("writing the email for {to} failed: {e}"))
            }
        }
    }
}

/// `url` with any password in it replaced by `***`, parsed or not (`smtp://user:***@host`).
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return url.to_owned() };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split_once(':').map_or(userinfo, |(u, _)| u);
            let hidden = if userinfo.contains(':') { format!("{user}:***") } else { user.to_owned() };
            format!("{scheme}://{hidden}@{host}{tail}")
        }
        None => url.to_owned(),
    }
}

/// Splits a PEM bundle into one PEM text per certificate.
fn pem_blocks(pem: &[u8]) -> Vec<Vec<u8>> {
    let text = String::from_utf8_lossy(pem);
    let end = "-----END CERTIFICATE-----";
    text.split_inclusive(end)
        .filter(|b| b.contains("-----BEGIN CERTIFICATE-----"))
        .map(|b| b.trim().as_bytes().to_vec())
        .collect()
}

/// The text of the reply B email.
pub fn reply_b_email(name: &str, request_hex: &str, armored: &str, cds_http: &str) -> (String, String) {
    let subject = format!("sslx verified setup of {name}: reply B (request {request_hex})");
    let body = format!(
        "This is reply B of the sslx verified setup of {name} at the CDS {cds_http}.\n\
         \n\
         It holds the second half of the CDS key and is useless without reply A (which the\n\
         CDS sent straight back to the machine) and the PIN (which arrives on the other channel).\n\
         On that machine, run:\n\
         \n\
         \x20   sslx assemble-key --reply-b FILE     (FILE: this whole email, or just the block; it asks for the PIN)\n\
         \x20   sslx vsu --confirm\n\
         \n\
         {armored}\n\
         If you did not ask for this, ignore this email: without the PIN nothing can be done with it.\n"
    );
    (subject, body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_in_the_smtp_url_never_reaches_an_error() {
        assert_eq!(redact_url("smtp://mailuser:S3cret@mail host:587"), "smtp://mailuser:***@mail host:587");
        assert_eq!(redact_url("smtps://u:p%40ss@h/x?tls=none"), "smtps://u:***@h/x?tls=none");
        assert_eq!(redact_url("smtp://host:25"), "smtp://host:25");
        for bad in ["smtp://mailuser:S3cretPass@mail host:587", "smtp://u:S3cretPass@", "smtp://u:S3cretPass@h?x=1"] {
            let e = Mailer::smtp(bad, None).err().expect("refused");
            assert!(!e.contains("S3cretPass"), "{e}");
        }
    }
}
