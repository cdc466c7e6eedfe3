//! Every command-line definition (clap), in the library so that man pages and completions are
//! generated from, and tested against, the same structs the binaries parse.

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

const AFTER_HELP: &str = "Exit status: 0 ok, 1 failure, 2 usage, 3 verification failed (MAC, signature, checksum, denied), 4 expired or clock skew, 5 refused by the CDS, 6 not found, 7 CDS or server unavailable, 130 interrupted.";

/// Trust between machines: enroll with a Common Directory Server (CDS), then move keys, tokens,
/// commands and files securely.
#[derive(Debug, Parser)]
#[command(name = "sslx", version, after_help = AFTER_HELP, propagate_version = true)]
pub struct SslxCli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: SslxCommand,
}

#[derive(Debug, Args)]
pub struct Global {
    /// The sslx home: identity, CDS key, state [default: $XDG_CONFIG_HOME/sslx]
    #[arg(long, global = true, env = "SSLX_HOME", value_name = "DIR")]
    pub home: Option<PathBuf>,
    /// The CDS protocol address [default: the one remembered at enrollment]
    #[arg(long, global = true, env = "SSLX_CDS", value_name = "HOST:PORT")]
    pub cds: Option<String>,
    /// The CDS's public HTTP address [default: the one the CDS announced at enrollment]
    #[arg(long, global = true, env = "SSLX_CDS_HTTP", value_name = "URL")]
    pub cds_http: Option<String>,
    /// Machine-readable output: one JSON object on stdout
    #[arg(long, global = true)]
    pub json: bool,
    /// No messages on stderr, only errors
    #[arg(short, long, global = true)]
    pub quiet: bool,
}

#[derive(Debug, Subcommand)]
pub enum SslxCommand {
    /// Make this machine's identity (X25519 + Ed25519) and print its public key line
    #[command(
        after_help = "The secret key is written 0600 into the home (or to --out), one tagged line with a checksum.\nThe public line is printed on stdout (on stderr when --out - takes stdout)."
    )]
    Keygen(KeygenArgs),
    /// Verified setup with a CDS: send the open request, or (--confirm) confirm the assembled key
    #[command(
        after_help = "Enrollment takes three replies on three channels:\n  1. sslx vsu --email ADDR --oob URI   reply A comes straight back and is kept in the home\n  2. reply B arrives by email, the PIN (reply C) on the out-of-band channel\n  3. sslx assemble-key --reply-b FILE --pin PIN\n  4. sslx vsu --confirm\nOut-of-band URIs: sms:+15551234567, voice:+15551234567, mailto:ops@example.com,\nhttps://hooks.example.com/sslx, exec:DEST (a site command at the CDS)."
    )]
    Vsu(VsuArgs),
    /// Put the CDS key together from reply A, reply B (email) and the PIN
    #[command(
        after_help = "The PIN can come from --pin, SSLX_PIN, --pin-file, or a prompt when stdin is a terminal.\nA wrong PIN is only detected by the CDS at `sslx vsu --confirm` (so that nobody can try PINs offline);\nthe CDS then answers \"denied\", the key is removed, and assemble-key can be run again."
    )]
    AssembleKey(AssembleArgs),
    /// Show a participant's public standing at the CDS (last VSU, channels, key life)
    Standing(StandingArgs),
    /// Take calls: each caller's stream goes to stdout, or to a command (--exec)
    #[command(
        after_help = "With --bind ADDR the listener takes calls directly on ADDR (no CDS in the path);\ncallers run `sslx dial HOST:PORT`. It prints `listening on ADDR as NAME` on stderr.\nEach call is authenticated by a ticket from the CDS (AH-CDS) or a resumed session."
    )]
    Listen(ListenArgs),
    /// Call a peer: stdin goes to the peer, the peer's output to stdout
    #[command(
        after_help = "Examples:\n  tar cf - reports | sslx dial backup1        by name, through the CDS relay\n  sslx dial 10.0.0.7:7460 < query.sql         directly, to a `sslx listen --bind`\nEOF on stdin ends what is sent; the peer's answer still comes back (half-close). A stream cut\noff before the peer's final record is an error (exit 3), never taken as complete."
    )]
    Dial(DialArgs),
    /// Run the handshake alone and print the peer, Key-ID, cipher, forward secrecy and resumption
    #[command(
        after_help = "Exit status: 0 ok, 3 authentication failed, 5 refused, 6 unknown peer, 7 unreachable or not listening.\nA second handshake with the same peer resumes from the session cache unless --no-resume."
    )]
    Handshake(DialArgs),
}

#[derive(Debug, Args)]
pub struct SessionFlags {
    /// No X25519 ephemeral keys: the seed's plain mode (no forward secrecy)
    #[arg(long)]
    pub no_fs: bool,
    /// Always make a full handshake (do not resume a cached session)
    #[arg(long)]
    pub no_resume: bool,
}

#[derive(Debug, Args)]
pub struct ListenArgs {
    /// Listen directly on ADDR (e.g. 127.0.0.1:7460, or port 0 for any free port)
    #[arg(long, value_name = "ADDR")]
    pub bind: Option<String>,
    /// Take one call, then exit with its status
    #[arg(long)]
    pub once: bool,
    /// Serve each call with this command (sh -c): the caller's stream is its stdin, its stdout goes back
    #[arg(long, value_name = "CMD")]
    pub exec: Option<String>,
    /// Calls served at the same time
    #[arg(long, default_value_t = 16, value_name = "N")]
    pub max_calls: usize,
    #[command(flatten)]
    pub session: SessionFlags,
}

#[derive(Debug, Args)]
pub struct DialArgs {
    /// The peer: its name (through the CDS relay), or the HOST:PORT of a `sslx listen --bind`
    pub peer: String,
    #[command(flatten)]
    pub session: SessionFlags,
}

#[derive(Debug, Args)]
pub struct KeygenArgs {
    /// This machine's name at the CDS (a-z, 0-9, '.', '_', '-')
    #[arg(long)]
    pub name: String,
    /// Write the secret identity here instead of the home ('-' for stdout)
    #[arg(long, value_name = "FILE|-")]
    pub out: Option<String>,
    /// Replace an existing identity (the old one is kept as identity.key.old)
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct VsuArgs {
    /// Email address for reply B
    #[arg(long, value_name = "ADDR", required_unless_present = "confirm", conflicts_with = "confirm")]
    pub email: Option<String>,
    /// Out-of-band channel for the PIN (reply C), as a URI
    #[arg(long, value_name = "URI", required_unless_present = "confirm", conflicts_with = "confirm")]
    pub oob: Option<String>,
    /// Also write reply A to FILE ('-' for stdout)
    #[arg(long, value_name = "FILE|-", conflicts_with = "confirm")]
    pub out: Option<String>,
    /// Re-enroll a registered name under a new key: the old identity file signs the request too
    #[arg(long, value_name = "OLD-IDENTITY", conflicts_with = "confirm")]
    pub prove_with: Option<PathBuf>,
    /// Send the confirmation wrapped in the assembled CDS key
    #[arg(long)]
    pub confirm: bool,
}

#[derive(Debug, Args)]
pub struct AssembleArgs {
    /// Reply B: the email (whole, or just its armored block), a file or '-' for stdin
    #[arg(long, value_name = "FILE|-")]
    pub reply_b: String,
    /// The PIN from the out-of-band channel (better: SSLX_PIN, --pin-file or the prompt)
    #[arg(long, env = "SSLX_PIN", hide_env_values = true)]
    pub pin: Option<String>,
    /// Read the PIN from a file
    #[arg(long, value_name = "FILE", conflicts_with = "pin")]
    pub pin_file: Option<String>,
    /// Reply A from a file (written by `sslx vsu --out`) instead of the pending request
    #[arg(long, value_name = "FILE")]
    pub reply_a: Option<String>,
    /// Print the CDS key line on stdout instead of installing it
    #[arg(long)]
    pub print: bool,
}

#[derive(Debug, Args)]
pub struct StandingArgs {
    /// The participant's name
    pub name: String,
}

/// The Common Directory Server: registrar for verified setup, key broker, relay.
#[derive(Debug, Parser)]
#[command(name = "sslx-cds", version, after_help = AFTER_HELP)]
pub struct CdsCli {
    #[command(subcommand)]
    pub command: CdsCommand,
}

#[derive(Debug, Subcommand)]
pub enum CdsCommand {
    /// Run the CDS: the protocol listener and the public HTTP side
    #[command(
        after_help = "On start, one JSON line on stdout says where everything is:\n  {\"listen\": ADDR, \"http\": URL, \"db\": PATH, \"outbox\": DIR|null, \"oob_dir\": DIR|null}\n--dev needs nothing outside: state in a temp dir, email as .eml files in an outbox folder,\nout-of-band messages as files in a folder.\nSMS/voice gateway (Twilio-compatible): --twilio-url, SSLX_TWILIO_SID, SSLX_TWILIO_TOKEN, SSLX_TWILIO_FROM.\nSMTP credentials: in the URL, or SSLX_SMTP_USER and SSLX_SMTP_PASSWORD."
    )]
    Serve(Box<ServeArgs>),
    /// The call log (billing tape): tracking id, caller, callee, start, end, bytes each way, result
    Calls(CallsArgs),
    /// Forget a participant's registration, so its name can be enrolled again by any key
    Release(ReleaseArgs),
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum CallsFormat {
    Csv,
    Json,
}

#[derive(Debug, Args)]
pub struct CallsArgs {
    /// Only calls that started at or after TIME: Unix seconds, RFC 3339, or an age (90m, 24h, 7d)
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,
    /// csv (with a header line) or json (one object a line)
    #[arg(long, value_enum, default_value = "csv")]
    pub format: CallsFormat,
    /// SQLite database file
    #[arg(long, default_value = "sslx-cds.db", value_name = "PATH")]
    pub db: PathBuf,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Throw-away CDS: temp state, email and out-of-band messages written to folders
    #[arg(long)]
    pub dev: bool,
    /// Protocol listener address
    #[arg(long, default_value = "127.0.0.1:7450", value_name = "ADDR")]
    pub listen: String,
    /// HTTP listener address (public standing)
    #[arg(long, default_value = "127.0.0.1:7451", value_name = "ADDR")]
    pub http: String,
    /// The HTTP base URL announced to participants [default: http://<the --http address>]
    #[arg(long, value_name = "URL")]
    pub public_http: Option<String>,
    /// SQLite database file [default: sslx-cds.db, or in the temp dir with --dev]
    #[arg(long, value_name = "PATH")]
    pub db: Option<PathBuf>,
    /// SMTP server for email: smtp://[user:pass@]host[:port][?tls=required|opportunistic|none] or smtps://…
    #[arg(long, env = "SSLX_SMTP", value_name = "URL")]
    pub smtp: Option<String>,
    /// Trust these root certificates (PEM) for the SMTP server, besides the built-in web roots
    #[arg(long, value_name = "FILE", requires = "smtp")]
    pub smtp_ca: Option<PathBuf>,
    /// Write email as .eml files to this folder instead of sending it
    #[arg(long, value_name = "DIR", conflicts_with = "smtp")]
    pub outbox: Option<PathBuf>,
    /// Write every out-of-band message to this folder instead of sending it
    #[arg(long, value_name = "DIR")]
    pub oob_dir: Option<PathBuf>,
    /// Sender address of the CDS's email
    #[arg(long, default_value = "sslx-cds@localhost", value_name = "ADDR")]
    pub mail_from: String,
    /// Seconds an open request waits for its confirmation
    #[arg(long, default_value_t = 86400, value_name = "SECS")]
    pub request_ttl: u64,
    /// Failed confirmations allowed per request
    #[arg(long, default_value_t = 3, value_name = "N")]
    pub max_attempts: u32,
    /// Days a confirmed CDS key stays valid
    #[arg(long, default_value_t = 365, value_name = "DAYS")]
    pub key_life_days: u64,
    /// Hex digits in a PIN (4-6)
    #[arg(long, default_value_t = 6, value_name = "N", value_parser = clap::value_parser!(u8).range(4..=6))]
    pub pin_digits: u8,
    /// Accept plain http:// webhooks for the PIN (default: https:// only)
    #[arg(long)]
    pub allow_http_webhooks: bool,
    /// Site command for exec: and other site channels (message on stdin, destination in $SSLX_OOB_TO)
    #[arg(long, value_name = "CMD")]
    pub oob_exec: Option<String>,
    /// Accept calls from any address (default: only from the address a participant enrolled from)
    #[arg(long)]
    pub no_source_check: bool,
    /// Base URL of a Twilio-compatible SMS/voice API
    #[arg(long, env = "SSLX_TWILIO_URL", value_name = "URL")]
    pub twilio_url: Option<String>,
}

#[derive(Debug, Args)]
pub struct ReleaseArgs {
    /// The participant's name
    pub name: String,
    /// SQLite database file
    #[arg(long, default_value = "sslx-cds.db", value_name = "PATH")]
    pub db: PathBuf,
}
