//! Reply C, the PIN, on the out-of-band channel the DS named: `mailto:` (a second email),
//! `sms:`/`voice:` (a Twilio-compatible HTTP API), `https://` webhook (JSON POST), `exec:` and
//! other site channels (pipe to a site's command), and, for `--dev`, a folder.

use super::mail::Mailer;
use crate::vsu::{request_id_hex, ReplyC};
use std::path::PathBuf;
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
    /// A site command for `exec:` and other site-handled channels: the message on stdin,
    /// the destination URI in `SSLX_OOB_TO`.
    pub exec: Option<String>,
    /// Allow plain `http://` webhooks (otherwise only `https://`).
    pub allow_http: bool,
}

pub struct Oob {
    pub cfg: OobConfig,
    http: reqwest::Client,
}

impl Oob {
    pub fn new(cfg: OobConfig) -> Self {
        let http = reqwest::Client::builder().timeout(Duration::from_secs(15)).build().expect("HTTP client");
        Oob { cfg, http }
    }

    /// Whether this CDS can deliver to `uri`; the error says why not and what is offered.
    pub fn check(&self, uri: &str) -> Result<(), String> {
        let (scheme, rest) = uri
            .split_once(':')
            .ok_or_else(|| format!("out-of-band channel {uri:?} is not a URI (e.g. sms:+15551234567)"))?;
        if rest.is_empty() || uri.len() > 2048 {
            return Err(format!("out-of-band channel {uri:?} has no destination"));
        }
        if self.cfg.dir.is_some() {
            return Ok(());
        }
        match scheme {
            "mailto" => rest.parse::<lettre::Address>().map(drop).map_err(|_| format!("{rest:?} is not an email address")),
            "sms" | "voice" if self.cfg.sms.is_some() => Ok(()),
            "sms" | "voice" => Err(format!("this CDS has no SMS/voice gateway configured, so {scheme}: cannot be used; choose mailto:, https:// or another channel")),
            "https" => url::Url::parse(uri).map(drop).map_err(|e| format!("webhook {uri:?}: {e}")),
            "http" if self.cfg.allow_http => url::Url::parse(uri).map(drop).map_err(|e| format!("webhook {uri:?}: {e}")),
            "http" => Err("plain http:// webhooks are not accepted by this CDS; use https://".into()),
            "file" => Err("file: out-of-band channels exist only on a --dev CDS".into()),
            _ if self.cfg.exec.is_some() => Ok(()),
            other => Err(format!("out-of-band channel {other}: is not offered by this CDS (offered: mailto:, https://{})", if self.cfg.sms.is_some() { ", sms:, voice:" } else { "" })),
        }
    }

    pub async fn deliver(&self, uri: &str, c: &ReplyC, mailer: &Mailer, mail_from: &str) -> Result<(), String> {
        if let Some(dir) = &self.cfg.dir {
            let text = format!("To: {uri}\n\n{}\n", c.text());
            let path = dir.join(format!("{}.txt", request_id_hex(&c.request_id)));
            return tokio::task::spawn_blocking(move || crate::keys::write_atomic(&path, text.as_bytes(), 0o600))
                .await
                .map_err(|e| e.to_string())?
                .map_err(|e| format!("writing the out-of-band message: {e}"));
        }
        let (scheme, dest) = uri.split_once(':').unwrap_or((uri, ""));
        match scheme {
            "mailto" => mailer.send(mail_from, dest, &format!("sslx PIN for {}", c.name), c.text()).await,
            "sms" | "voice" => self.twilio(scheme, dest, c).await,
            "http" | "https" => {
                let r = self.http.post(uri).json(&c.json()).send().await.map_err(|e| format!("webhook {uri}: {e}"))?;
                if r.status().is_success() {
                    Ok(())
                } else {
                    Err(format!("webhook {uri} answered {}", r.status()))
                }
            }
            _ => self.exec(uri, c).await,
        }
    }

    async fn twilio(&self, scheme: &str, to: &str, c: &ReplyC) -> Result<(), String> {
        let g = self.cfg.sms.as_ref().ok_or("no SMS gateway configured")?;
        let (endpoint, field, value) = if scheme == "sms" {
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
        let mut child = tokio::process::Command::new("sh")
            .arg("-c")
            .arg(cmd)
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
