//! Reply C, the PIN, on the out-of-band channel the DS named: `mailto:` (a second email),
//! `sms:`/`voice:` (a Twilio-compatible HTTP API), `https://` webhook (JSON POST), `exec:` (a
//! site command), and, for `--dev`, a folder.
//!
//! An open request is not authenticated by anything the CDS knows yet, so whatever it names is
//! checked before anything is sent (`Oob::prepare`): a webhook's host is resolved once, and
//! every address it resolves to must be public (no loopback, private, link-local, multicast
//! or unspecified address, unless the operator allows private webhooks); the POST then goes to
//! exactly that address, and redirects are never followed. Phone numbers must be E.164; a
//! `mailto:` must not be the reply-B address (the PIN would sit beside reply B); `exec:`
//! destinations use a small safe alphabet, reach the site command in a clean environment
//! (never the CDS's SMTP or Twilio secrets), and only a few run at once.

use super::mail::Mailer;
use crate::vsu::{request_id_hex, ReplyC};
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// A Twilio-compatible SMS/voice API: `POST {base}/2010-04-01/Accounts/{sid}/Messages.json`.
#[derive(Debug, Clone)]
pub struct SmsGateway {
    pub base_url: String,
    pub account_sid: String,
    pub auth_token: String,
    pub from: String,
}

pub struct OobConfig {
    /// Every out-of-band message goes to this folder instead (`--dev`, `--oob-dir`).
    pub dir: Option<PathBuf>,
    pub sms: Option<SmsGateway>,
    /// A site command for `exec:` destinations: the message on stdin, the destination URI in
    /// `SSLX_OOB_TO`, nothing else in its environment but `PATH`.
    pub exec: Option<String>,
    /// Allow plain `http://` webhooks (otherwise only `https://`).
    pub allow_http: bool,
    /// Allow webhooks to loopback, private, link-local and other non-public addresses (tests,
    /// or a CDS inside a private network).
    pub allow_private: bool,
    /// Country codes (`+1`, `+44`) that `sms:` and `voice:` numbers must start with; empty: any.
    pub phone_prefixes: Vec<String>,
}

/// Site commands running at once; more wait their turn.
pub const MAX_EXEC_CHILDREN: usize = 4;
/// The longest `exec:` destination accepted.
pub const MAX_EXEC_DEST: usize = 256;

pub struct Oob {
    pub cfg: OobConfig,
    http: reqwest::Client,
    children: Arc<tokio::sync::Semaphore>,
}

/// A channel checked and ready: what `deliver` sends to.
#[derive(Debug, Clone)]
pub enum Target {
    /// `--dev` / `--oob-dir`: a file in the folder.
    Dir(PathBuf, String),
    Mailto(String),
    /// `sms:` or `voice:` and an E.164 number.
    Phone {
        voice: bool,
        number: String,
    },
    /// A webhook URL and the one address its host resolved to (the POST goes there).
    Webhook {
        url: url::Url,
        addr: SocketAddr,
    },
    /// A site command's destination.
    Exec(String),
}

/// `+` then 7 to 15 digits, the first not 0 (ITU-T E.164).
pub fn is_e164(n: &str) -> bool {
    n.strip_prefix('+')
        .is_some_and(|d| (7..=15).contains(&d.len()) && d.bytes().all(|b| b.is_ascii_digit()) && !d.starts_with('0'))
}

/// Whether an address is one the public internet routes to a single host: not loopback,
/// private (RFC 1918, unique-local), link-local, shared (CGNAT), multicast, broadcast,
/// unspecified, documentation or reserved. IPv4-mapped IPv6 addresses are judged as IPv4.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_multicast()
                || v4.is_broadcast()
                || v4.is_unspecified()
                || v4.is_documentation()
                || o[0] == 0
                || (o[0] == 100 && (o[1] & 0xc0) == 64)
                || (o[0] == 192 && o[1] == 0 && o[2] == 0)
                || (o[0] == 198 && (o[1] & 0xfe) == 18)
                || o[0] >= 240)
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(IpAddr::V4(v4));
            }
            let s = v6.segments();
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00
                || (s[0] & 0xffc0) == 0xfe80
                || (s[0] & 0xffc0) == 0xfec0
                || (s[0] == 0x2001 && s[1] == 0x0db8)
                || (s[0] == 0x64 && s[1] == 0xff9b)
                || s[..6] == [0, 0, 0, 0, 0, 0])
        }
    }
}

fn exec_dest_ok(d: &str) -> bool {
    !d.is_empty()
        && d.len() <= MAX_EXEC_DEST
        && d.bytes().all(|b| b.is_ascii_alphanumeric() || b"@._+-:/=".contains(&b))
        && !d.starts_with('-')
}

impl Oob {
    pub fn new(cfg: OobConfig) -> Self {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(15))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("HTTP client");
        Oob { cfg, http, children: Arc::new(tokio::sync::Semaphore::new(MAX_EXEC_CHILDREN)) }
    }

    /// The schemes this CDS delivers to, for messages.
    fn offered(&self) -> String {
        let mut s = vec!["mailto:", "https://"];
        if self.cfg.allow_http {
            s.push("http://");
        }
        if self.cfg.sms.is_some() {
            s.extend(["sms:", "voice:"]);
        }
        if self.cfg.exec.is_some() {
            s.push("exec:");
        }
        s.join(", ")
    }

    /// Checks `uri` as the out-of-band channel of a request whose reply B goes to `email`, and
    /// resolves it to the one place `deliver` will send to. Blocking (a webhook's DNS lookup):
    /// run it off the async threads. The error says why, and what is offered.
    pub fn prepare(&self, uri: &str, email: &str) -> Result<Target, String> {
        let (scheme, rest) = uri
            .split_once(':')
            .ok_or_else(|| format!("out-of-band channel {uri:?} is not a URI (e.g. sms:+15551234567)"))?;
        if rest.is_empty() || uri.len() > 2048 {
            return Err(format!("out-of-band channel {uri:?} has no destination"));
        }
        let target = match scheme {
            "mailto" => {
                let addr: lettre::Address = rest.parse().map_err(|_| format!("{rest:?} is not an email address"))?;
                if super::registrar::mailbox_key(addr.as_ref()) == super::registrar::mailbox_key(email) {
                    return Err(
                        "the out-of-band channel must not be reply B's address: the PIN would arrive beside reply B; name another mailbox, a phone or a webhook"
                            .into(),
                    );
                }
                Target::Mailto(addr.to_string())
            }
            "sms" | "voice" => {
                if !is_e164(rest) {
                    return Err(format!(
                        "{rest:?} is not a phone number in E.164 form (a + and 7 to 15 digits, e.g. {scheme}:+15551234567)"
                    ));
                }
                if !self.cfg.phone_prefixes.is_empty()
                    && !self.cfg.phone_prefixes.iter().any(|p| rest.starts_with(p.as_str()))
                {
                    return Err(format!(
                        "this CDS texts and calls only numbers starting {}",
                        self.cfg.phone_prefixes.join(", ")
                    ));
                }
                if self.cfg.sms.is_none() && self.cfg.dir.is_none() {
                    return Err(format!(
                        "this CDS has no SMS/voice gateway configured, so {scheme}: cannot be used; choose one of: {}",
                        self.offered()
                    ));
                }
                Target::Phone { voice: scheme == "voice", number: rest.to_owned() }
            }
            "https" | "http" => {
                if scheme == "http" && !self.cfg.allow_http {
                    return Err("plain http:// webhooks are not accepted by this CDS; use https://".into());
                }
                let url = url::Url::parse(uri).map_err(|e| format!("webhook {uri:?}: {e}"))?;
                if !url.username().is_empty() || url.password().is_some() {
                    return Err(format!("webhook {uri:?}: credentials in the URL are not accepted"));
                }
                let host = url.host_str().ok_or_else(|| format!("webhook {uri:?} has no host"))?;
                let port = url.port_or_known_default().ok_or_else(|| format!("webhook {uri:?} has no port"))?;
                if let Some(dir) = &self.cfg.dir {
                    // Written to the folder: nothing is looked up or sent.
                    return Ok(Target::Dir(dir.clone(), uri.to_owned()));
                }
                let host = host.trim_start_matches('[').trim_end_matches(']');
                let addrs: Vec<SocketAddr> = (host, port)
                    .to_socket_addrs()
                    .map_err(|e| format!("webhook host {host:?} does not resolve: {e}"))?
                    .collect();
                let first = *addrs.first().ok_or_else(|| format!("webhook host {host:?} has no address"))?;
                if !self.cfg.allow_private {
                    if let Some(bad) = addrs.iter().find(|a| !is_public(a.ip())) {
                        return Err(format!(
                            "webhook host {host:?} resolves to {}, which is not a public address: refused",
                            bad.ip()
                        ));
                    }
                }
                Target::Webhook { url, addr: first }
            }
            "exec" => {
                if self.cfg.exec.is_none() && self.cfg.dir.is_none() {
                    return Err(format!("exec: is not offered by this CDS (offered: {})", self.offered()));
                }
                if !exec_dest_ok(rest) {
                    return Err(format!(
                        "exec: destinations are 1-{MAX_EXEC_DEST} characters of letters, digits and @._+-:/= (got {rest:?})"
                    ));
                }
                Target::Exec(uri.to_owned())
            }
            "file" if self.cfg.dir.is_none() => {
                return Err("file: out-of-band channels exist only on a --dev CDS".into())
            }
            // A folder takes any other channel with a safe destination (it is only written down).
            _ if self.cfg.dir.is_some() && exec_dest_ok(rest) => Target::Exec(uri.to_owned()),
            other => {
                return Err(format!(
                    "out-of-band channel {other}: is not offered by this CDS (offered: {})",
                    self.offered()
                ))
            }
        };
        // --dev / --oob-dir: the checks above hold, and the message goes to the folder.
        if let Some(dir) = &self.cfg.dir {
            return Ok(Target::Dir(dir.clone(), uri.to_owned()));
        }
        Ok(target)
    }

    /// Where reply C for `request_id` goes, for the log (no secret in it).
    pub fn destination(target: &Target, request_id: &[u8; 16], mailer: &Mailer) -> String {
        let rid = request_id_hex(request_id);
        match target {
            Target::Dir(dir, _) => dir.join(format!("{rid}.txt")).display().to_string(),
            Target::Mailto(to) => mailer.destination(to, &format!("{rid}.reply-c")),
            Target::Phone { voice, number } => format!("{} to {number}", if *voice { "a call" } else { "an SMS" }),
            Target::Webhook { url, .. } => format!("a webhook to {}", url.origin().ascii_serialization()),
            Target::Exec(_) => "the configured command".into(),
        }
    }

    /// Sends reply C to a prepared target.
    pub async fn deliver(&self, target: &Target, c: &ReplyC, mailer: &Mailer, mail_from: &str) -> Result<(), String> {
        match target {
            Target::Dir(dir, uri) => {
                let text = format!("To: {uri}\n\n{}\n", c.text());
                let path = dir.join(format!("{}.txt", request_id_hex(&c.request_id)));
                tokio::task::spawn_blocking(move || crate::keys::write_atomic(&path, text.as_bytes(), 0o600))
                    .await
                    .map_err(|e| e.to_string())?
                    .map_err(|e| format!("writing the out-of-band message: {e}"))
            }
            Target::Mailto(to) => {
                let file = format!("{}.reply-c", request_id_hex(&c.request_id));
                mailer.send(mail_from, to, &format!("sslx PIN for {}", c.name), c.text(), &file).await
            }
            Target::Phone { voice, number } => self.twilio(*voice, number, c).await,
            Target::Webhook { url, addr } => self.webhook(url, *addr, c).await,
            Target::Exec(uri) => self.exec(uri, c).await,
        }
    }

    async fn webhook(&self, url: &url::Url, addr: SocketAddr, c: &ReplyC) -> Result<(), String> {
        // The POST goes to the address checked in `prepare`, never to a second lookup's.
        let host = url.host_str().unwrap_or_default().trim_start_matches('[').trim_end_matches(']').to_owned();
        // No proxy either: a proxy would look the host up again and reach what it can reach.
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(15))
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .resolve(&host, addr)
            .build()
            .map_err(|e| format!("webhook client: {e}"))?;
        let r = client.post(url.as_str()).json(&c.json()).send().await.map_err(|e| format!("webhook {url}: {e}"))?;
        if r.status().is_success() {
            Ok(())
        } else if r.status().is_redirection() {
            Err(format!("webhook {url} answered {} (redirects are not followed)", r.status()))
        } else {
            Err(format!("webhook {url} answered {}", r.status()))
        }
    }

    async fn twilio(&self, voice: bool, to: &str, c: &ReplyC) -> Result<(), String> {
        let g = self.cfg.sms.as_ref().ok_or("no SMS gateway configured")?;
        let scheme = if voice { "voice" } else { "sms" };
        let (endpoint, field, value) = if !voice {
            ("Messages.json", "Body", c.text())
        } else {
            let spoken: String = c.pin.chars().map(|ch| format!("{ch}, ")).collect();
            (
                "Calls.json",
                "Twiml",
                format!("<Response><Say>Your s s l x PIN is {spoken}. Again: {spoken}.</Say></Response>"),
            )
        };
        let url = format!("{}/2010-04-01/Accounts/{}/{endpoint}", g.base_url.trim_end_matches('/'), g.account_sid);
        let body: String = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("To", to)
            .append_pair("From", &g.from)
            .append_pair(field, &value)
            .finish();
        let r = self
            .http
            .post(&url)
            .basic_auth(&g.account_sid, Some(&g.auth_token))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .map_err(|e| format!("{scheme} gateway: {e}"))?;
        if r.status().is_success() {
            Ok(())
        } else {
            Err(format!("{scheme} gateway answered {}", r.status()))
        }
    }

    async fn exec(&self, uri: &str, c: &ReplyC) -> Result<(), String> {
        use tokio::io::AsyncWriteExt;
        let cmd = self.cfg.exec.as_ref().ok_or("no exec channel configured")?;
        let _turn = tokio::time::timeout(Duration::from_secs(30), self.children.clone().acquire_owned())
            .await
            .map_err(|_| "the out-of-band command is busy; try again".to_owned())?
            .map_err(|e| e.to_string())?;
        let mut child = tokio::process::Command::new("sh")
            .arg("-c")
            .arg(cmd)
            .env_clear()
            .env("PATH", "/usr/local/bin:/usr/bin:/bin")
            .env("SSLX_OOB_TO", uri)
            .env("SSLX_OOB_REQUEST", request_id_hex(&c.request_id))
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("out-of-band command: {e}"))?;
        let mut stdin = child.stdin.take().expect("piped");
        stdin.write_all(c.text().as_bytes()).await.map_err(|e| format!("out-of-band command: {e}"))?;
        drop(stdin);
        let st = tokio::time::timeout(Duration::from_secs(30), child.wait())
            .await
            .map_err(|_| "out-of-band command timed out".to_owned())?
            .map_err(|e| format!("out-of-band command: {e}"))?;
        if st.success() {
            Ok(())
        } else {
            Err(format!("out-of-band command failed ({st})"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_addresses() {
        for bad in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "224.0.0.1",
            "255.255.255.255",
            "::1",
            "::",
            "fe80::1",
            "fd00::1",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "64:ff9b::a00:1",
        ] {
            assert!(!is_public(bad.parse().unwrap()), "{bad} is not public");
        }
        for good in ["93.184.216.34", "8.8.8.8", "2606:4700::1111", "::ffff:8.8.8.8"] {
            assert!(is_public(good.parse().unwrap()), "{good} is public");
        }
    }

    #[test]
    fn e164_numbers() {
        assert!(is_e164("+15551234567"));
        assert!(!is_e164("15551234567"));
        assert!(!is_e164("+1"));
        assert!(!is_e164("+0123456789"));
        assert!(!is_e164("+1555123456789012"));
        assert!(!is_e164("+1555-123-4567"));
    }

    #[test]
    fn exec_destinations() {
        assert!(exec_dest_ok("pager/ops@example.com"));
        assert!(!exec_dest_ok("$(reboot)"));
        assert!(!exec_dest_ok("a b"));
        assert!(!exec_dest_ok("-rf"));
        assert!(!exec_dest_ok(&"a".repeat(257)));
    }
}
