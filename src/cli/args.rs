//! Every command-line definition (clap), in the library so that man pages and completions are
//! generated from, and tested against, the same structs the binaries parse.

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

const AFTER_HELP: &str = "Exit status: 0 ok, 1 failure, 2 usage, 3 verification failed (MAC, signature, checksum, denied), 4 expired or clock skew, 5 refused by the CDS, 6 not found, 7 CDS or server unavailable, 8 malformed input, 9 not for this node, 130 interrupted.";

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
        after_help = "The secret key is written 0600 into the home (or to --out), one tagged line with a checksum.\nThe public line is printed on stdout (on stderr when --out - takes stdout).\nExit status: 0 written, 1 the file cannot be written or is readable by others, 2 usage (an identity\nalready exists: another --home, or --force)."
    )]
    Keygen(KeygenArgs),
    /// Verified setup with a CDS: send the open request, (--confirm) confirm the assembled key, or
    /// (--renew) renew the CDS key before it expires
    #[command(
        after_help = "Enrollment takes three replies on three channels:\n  1. sslx vsu --email ADDR --oob URI   reply A comes straight back and is kept in the home\n  2. reply B arrives by email, the PIN (reply C) on the out-of-band channel\n  3. sslx assemble-key --reply-b FILE   (asks for the PIN; or SSLX_PIN, --pin-file)\n  4. sslx vsu --confirm\nOut-of-band URIs: sms:+15551234567, voice:+15551234567, mailto:ops@example.com,\nhttps://hooks.example.com/sslx, exec:DEST (a site command at the CDS).\nRenewal: sslx vsu --renew, any time before the key expires (sslx status warns 30 days before),\nproved with the current key; no admin, no email, no PIN. The CDS seals the new key to the\nidentity registered at enrollment, and keeps the old one valid until the new one is confirmed.\nExit status: 0 sent (or confirmed, or renewed), 3 denied (a wrong PIN: the key is removed; assemble\nagain) or a renewal that does not verify, 4 the request or key expired or the clocks disagree (both\nprinted), 5 refused by the CDS (its reason printed; rate limits included), 6 no request or key to\nconfirm or renew, 7 the CDS unreachable (a renewal cut there is finished by running it again)."
    )]
    Vsu(VsuArgs),
    /// Put the CDS key together from reply A, reply B (email) and the PIN
    #[command(
        after_help = "The PIN can come from --pin, SSLX_PIN, --pin-file, or a prompt when stdin is a terminal.\nA wrong PIN is only detected by the CDS at `sslx vsu --confirm` (so that nobody can try PINs offline);\nthe CDS then answers \"denied\", the key is removed, and assemble-key can be run again.\nExit status: 0 assembled, 2 usage (no PIN and no terminal), 3 reply A or B does not open or check\n(a swapped or altered half, another request's reply), 6 no reply A in the home (run sslx vsu first)."
    )]
    AssembleKey(AssembleArgs),
    /// Show a participant's public standing at the CDS (last VSU, channels, key life)
    #[command(
        after_help = "Exit status: 0 shown, 6 no such participant at this CDS, 7 the CDS's HTTP side unreachable."
    )]
    Standing(StandingArgs),
    /// Where this machine stands: its identity, its CDS and CDS key (with its expiry), its pairs
    /// with each peer's standing at the CDS, what is listening (recv, listen, pair --accept) and
    /// bundles queued
    #[command(
        after_help = "A CDS key that expires within 30 days (or has expired) is warned about on stderr.\nExit status: 0 shown, 6 no identity in this home."
    )]
    Status,
    /// The peers this machine is paired with (courier), and since when
    #[command(after_help = "Exit status: 0 listed (also none).")]
    Pairs,
    /// Forget the pairing with PEER: its pair key is removed here (PEER keeps its own copy)
    #[command(after_help = "Exit status: 0 unpaired, 2 not a name, 6 not paired with PEER.")]
    Unpair(UnpairArgs),
    /// Log in at a gateway for remote execution: the credentials cache it hands back is kept here
    #[command(
        after_help = "The password comes from SSLX_PASSWORD, --password-file or a prompt (never the command line;\nno prompt without a terminal). The gateway derives the user key, logs in at the KDC, hands back\nthe credentials cache (a ticket-granting ticket and its session key, valid 10 hours) and keeps\nnothing; it is kept in the home as `credentials` (0600) until it expires or sslx logout.\nA --dev gateway's certificate is self-signed: give the fingerprint it printed.\nExit status: 0 logged in, 2 usage (no password and no terminal, not https://), 3 wrong user or\npassword, or a certificate other than the pinned one, 4 clocks too far apart, 5 refused (the\nuser is disabled), 7 the gateway or its KDC unreachable."
    )]
    Login(LoginArgs),
    /// Forget the credentials cache of sslx login
    #[command(after_help = "Exit status: 0 logged out (also when nobody was logged in).")]
    Logout,
    /// Run a command on a managed host through the gateway of sslx login
    #[command(
        after_help = "The gateway gets a ticket for HOST from its KDC with the credentials of sslx login, and the host's\nsslx-execd checks it and its ACL (which says as which local user the command runs) and runs the\ncommand: its stdout and stderr come back apart as they come. stdin reaches the command when it\nis not a terminal (at most 1 MiB).\nExit status: the command's own, or 128+N for signal N; otherwise 2 usage, 3 the ticket or a\nproof does not verify, 4 the login expired (sslx login again) or the clocks disagree, 5 denied\n(the host's ACL, a disabled user), 6 not logged in or no such host, 7 the gateway or the host\nunreachable (codes of sslx itself are told apart from the command's by its message on stderr)."
    )]
    Exec(ExecArgs),
    /// Take calls: each caller's stream goes to stdout, or to a command (--exec)
    #[command(
        after_help = "With --bind ADDR the listener takes calls directly on ADDR (no CDS in the path);\ncallers run `sslx dial NAME@HOST:PORT`. It prints `listening on ADDR as NAME` on stderr.\nEach call is authenticated by a ticket from the CDS (AH-CDS) or a resumed session.\nWho may call: with --exec, only the peers this machine is paired with (sslx pair), plus --allow\nNAME and the names in --allowed-peers FILE; without --exec, anyone enrolled at the CDS unless\n--allow or --allowed-peers is given. --allow-any takes calls from anyone enrolled, --exec too.\nOthers are refused (exit 5 at the caller) before any command starts.\nThe --exec command runs with SSLX_PEER set to the caller's authenticated name; its stdout is the\nstream back, its stderr reaches the caller's stderr apart from it, and the caller exits with its status.\nWith --json, events (listening, connected, done with exit_code, hook_down/hook_up) are NDJSON on stderr.\nOn hook, a hook that drops (the CDS restarted, the connection died: the CDS sends a keepalive\nevery 30 s) is put up again after 1 s, 2 s, 4 s … up to a minute, with a line on stderr (an event\nwith --json) when it drops and when it is back.\nExit status: 0 stopped after --once, 2 usage, 5 the CDS refused the hook (or another listener of\nthis name took its service), 6 not enrolled, 7 the CDS unreachable at the start or the bind\naddress in use. A failing call is logged and does not stop it."
    )]
    Listen(ListenArgs),
    /// Call a peer: stdin goes to the peer, the peer's output to stdout
    #[command(
        after_help = "Examples:\n  tar cf - reports | sslx dial backup1        by name, through the CDS relay\n  sslx dial db1@10.0.0.7:7460 < query.sql     directly, to db1's `sslx listen --bind`\n  sslx dial 10.0.0.7:7460                     directly, to the listener this home met there before\nA listener that names itself other than expected is refused before anything is sent (exit 3);\none this home has not met at that address needs NAME@ (or --yes, which remembers it).\nEOF on stdin ends what is sent; the peer's answer still comes back (half-close). A stream cut\noff before the peer's final record is an error (exit 3), never taken as complete.\nA listener running a command (listen --exec) sends its stderr apart (to this stderr) and its exit\nstatus: dial exits with it (128 + N for signal N), as ssh does. With --json, stdout stays the\nstream and stderr is NDJSON: connected, stderr (the remote's, as text), done (exit_code, signal).\nExit status: 0 the stream ended cleanly both ways, 3 authentication failed or the stream was cut\nor altered, 5 refused by the listener or the CDS, 6 unknown peer, 7 unreachable or not listening;\nthe remote command's status when the listener runs one (so 1-9 can be either: --json tells)."
    )]
    Dial(DialArgs),
    /// Run the handshake alone and print the peer, Key-ID, cipher, forward secrecy and resumption
    #[command(
        after_help = "Exit status: 0 ok, 3 authentication failed, 5 refused, 6 unknown peer, 7 unreachable or not listening.\nA second handshake with the same peer resumes from the session cache unless --no-resume."
    )]
    Handshake(DialArgs),
    /// Pair with a peer once: a key exchange checked by a 5-character string read over the phone
    #[command(
        after_help = "On the two machines:\n  bob$   sslx pair --accept             waits for the call (on hook at the CDS, or --bind ADDR)\n  alice$ sslx pair bob                   shows the string, e.g. 7KQ2M, and reads it to bob by phone\n  bob    types it at the prompt (or: --sas 7KQ2M, SSLX_SAS, --sas-file FILE|-)\n  alice  confirms that bob's side said it matched\nIn a script, each side needs the other's string: bob's side prints its own string on stdout once\nit matched (when it was given --sas or --sas-file), and alice runs\n  sslx pair bob --yes --sas-file FILE|-   which compares it with her own before saving anything.\nThe pair key is saved on both sides only when the strings match and both confirmed; a mismatch\nsaves nothing (exit 3) and pairing can simply be run again. Pairing again replaces the key.\nExit status: 0 paired, 3 strings differ or the exchange was altered, 5 refused, 7 peer unreachable."
    )]
    Pair(PairArgs),
    /// Send files and directories to a paired peer (live through the CDS relay, or as a bundle file)
    #[command(
        after_help = "Examples:\n  sslx send reports/ db.dump --to bob            live, through the CDS relay (bob runs sslx recv)\n  sslx send big.iso --to bob --suite 3des        the seed's triple-DES suite\n  sslx send notes.txt --to bob --out notes.sslx  a bundle file, for email or a USB stick\n  sslx send notes.txt --to bob --armor --out -   the same as base64 text lines, to paste in a mail\n  tar c . | ... no: sslx packs itself; --out - writes the bundle to stdout for a pipe\nFiles are packed (tar: modes, mtimes, symbolic links kept), compressed with zstd where it pays,\nencrypted and HMAC-proven in one streaming pass. When bob is not listening, the bundle waits in\nhis CDS mailbox (unless --no-mailbox) and `sslx log` shows it queued, then delivered.\nExit status: 0 delivered (or queued), 3 a proof failed (or the listener reached is not --to), 5 refused by the peer or the CDS, 6 not paired,
7 the CDS or the peer unreachable, or the connection cut during the transfer (send again)."
    )]
    Send(SendArgs),
    /// Receive files: take calls from paired peers, open a bundle file (--in), or fetch the mailbox
    #[command(
        after_help = "Examples:\n  sslx recv --into inbox/            on hook at the CDS; first delivers what waits in the mailbox\n  sslx recv --into 'inbox/%F'        a folder per day (strftime fields, local time; TZ=UTC for UTC)\n  sslx recv --once                   one transfer, then exit (for scripts)\n  sslx recv --in notes.sslx          open a bundle file (- for stdin; armored ones too); it opens once\n  sslx recv --from-mailbox           fetch what waits at the CDS and exit\n  sslx recv --exec-after 'ingest \"$@\"'  run a command with each arrival's paths\nEverything is unpacked into a temp dir inside --into and moved into place only after every proof\nheld: absolute paths, '..', links pointing outside, hard links and devices are refused, and a\ncut-off or altered transfer leaves nothing behind. Send it again.\nA name that already exists: --on-conflict fail (the default) refuses the transfer, and a live one\nthen waits in the mailbox (the sender is told what to do here); rename places report.1.pdf beside\nreport.pdf; overwrite replaces it (a directory whole, not merged); skip keeps what is there.\nOn hook, recv stays: a hook that drops (a CDS restart, a dead connection) is put up again after\n1 s, 2 s, 4 s … up to a minute, told on stderr (or as hook_down/hook_up events with --json), and\nwhat was left in the mailbox meanwhile is fetched when it is back. A second recv of this name\ntakes the hook over; the first stops (exit 5). Under systemd (Type=notify) it says READY=1 once\non hook; contrib/sslx-recv.service is a unit to start from.\nSettings: [recv] into, on-conflict, exec-after, max-transfers in sslx.toml in the home; flags win.\nExit status: 0 received, 1 --exec-after failed (with --once, --in or --from-mailbox), 2 usage, 3 altered,\nreplayed or cut off, 5 a name already exists (or the CDS refused the hook, or another recv took it),\n6 not paired or no such bundle file, 7 the CDS unreachable at the start."
    )]
    Recv(RecvArgs),
    /// Show the send log and the receive log (the inbox)
    #[command(
        after_help = "Queued bundles are asked about at the CDS (mailbox status) before they are shown.\nExit status: 0 shown (also when the CDS cannot be asked: those entries stay queued), 1 the log cannot be read."
    )]
    Log(LogArgs),
    /// Common session tokens: mint one for another node, verify one from another node
    #[command(
        subcommand,
        after_help = "Exit status: that of the subcommand (see sslx token SUBCOMMAND --help): 0 ok, 2 usage,\n3 bad signature, 4 expired, 5 refused, 6 unknown node or data, 7 unreachable, 8 malformed, 9 not for this node."
    )]
    Token(TokenCommand),
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Mint a signed (and, with --to, sealed) session token; print it (or a URL, or a cookie)
    #[command(
        after_help = "Examples:\n  sslx token mint --key node1.key --node 1 --field User-ID=fred --field Email-Address=fred@fred.org\n  sslx token mint --key node1.key --node 1 --to node2.pub --ttl 5m --url https://b.example.com/migrate\n  printf 'User-ID: fred\\nTelephone: @1.Fred.Telephone\\n' | sslx token mint --key node1.key --node 1 --fields -\nThe key file is an sslx identity (sslx keygen --out FILE); session numbers are kept in FILE.seq.\n--to PUBFILE takes a keyring line `NODE_ID sslx-pub1…` of the target node.\nA value `@NODE.ID` refers to data kept by that node (sslx token serve) and fetched by sslx token resolve.\nA token over --max-size (default 1024 characters) is refused: move bulky fields out of band.\nExit status: 0 minted, 1 the key file is readable by others or the session numbers cannot be kept,\n2 usage (a bad field, a token over --max-size, a bad --to line)."
    )]
    Mint(MintArgs),
    /// Verify a token against a keyring of trusted nodes; print its fields
    #[command(
        after_help = "Exit status: 0 valid, 8 malformed (layout, checksum, encoding), 3 bad signature,\n6 unknown node, 4 expired or not yet valid (both clocks printed), 9 not for this node,\n2 usage (a sealed token without --key)."
    )]
    Verify(VerifyArgs),
    /// Verify a token, then fetch its `@NODE.ID` values from their nodes (cached by version)
    #[command(
        after_help = "The keyring line of each referenced node carries its address: `NODE_ID sslx-pub1… HOST:PORT`.\nFetched values are cached in the home (token-cache.db) with the version the node reported; a token\nwhose Version is not newer is resolved from the cache, a newer one is fetched again.\nExit status: as verify, and 6 for a reference to a node that is unknown or has no such data,\n5 when the node refuses the query, 7 when it cannot be reached."
    )]
    Resolve(ResolveArgs),
    /// Answer other nodes' out-of-band queries for the data this node's tokens refer to
    #[command(
        after_help = "Only nodes in the keyring are answered, each authenticated by an Ed25519 signature over fresh\nnonces, and only with a token this node minted that is valid now (not expired, not sealed to someone\nelse), and only for the ids that token refers to as @THIS-NODE.ID; anything else is refused.\nAnswers are sealed to the asking node and signed by this node.\nPut the data in with `sslx token store --db PATH ID=VALUE...`.\nExit status: 0 stopped (SIGINT/SIGTERM), 1 the key or data file cannot be read, 2 usage,\n7 the address cannot be bound. A refused query is answered with ERR and does not stop it."
    )]
    Serve(TokenServeArgs),
    /// Set out-of-band values (`Fred.Telephone=(345) 555-1212`); prints the new data version
    #[command(
        after_help = "Exit status: 0 stored (all values, in one transaction), 1 the database cannot be written, 2 usage\n(an id or value that the query dialogue could not carry)."
    )]
    Store(TokenStoreArgs),
}

#[derive(Debug, Args)]
pub struct ResolveArgs {
    /// The token (- reads it from stdin)
    #[arg(value_name = "TOKEN|-")]
    pub token: String,
    /// Trusted nodes: `NODE_ID PUBLIC-KEY-LINE [HOST:PORT]` a line
    #[arg(long, value_name = "FILE")]
    pub keyring: PathBuf,
    /// This node's identity file (authenticates the queries; opens sealed tokens and answers)
    #[arg(long, value_name = "FILE")]
    pub key: PathBuf,
    /// This node's id
    #[arg(long, value_name = "ID")]
    pub node: u16,
    /// Clock skew allowed on Created and Expires
    #[arg(long, value_name = "DURATION", default_value = "5s")]
    pub skew: String,
    /// Refuse a token longer than this many characters (as minting does)
    #[arg(long, value_name = "CHARS", default_value_t = crate::token::DEFAULT_MAX_LEN)]
    pub max_size: usize,
}

#[derive(Debug, Args)]
pub struct TokenServeArgs {
    /// This node's identity file (the key its tokens are signed with)
    #[arg(long, value_name = "FILE")]
    pub key: PathBuf,
    /// This node's id
    #[arg(long, value_name = "ID")]
    pub node: u16,
    /// The nodes allowed to ask
    #[arg(long, value_name = "FILE")]
    pub keyring: PathBuf,
    /// Where to listen
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:7470")]
    pub listen: String,
    /// The out-of-band data (SQLite)
    #[arg(long, value_name = "PATH", default_value = "sslx-token-data.db")]
    pub db: PathBuf,
    /// Clock skew allowed on the Created and Expires of the tokens queries come with
    #[arg(long, value_name = "DURATION", default_value = "5s")]
    pub skew: String,
}

#[derive(Debug, Args)]
pub struct TokenStoreArgs {
    /// The out-of-band data (SQLite)
    #[arg(long, value_name = "PATH", default_value = "sslx-token-data.db")]
    pub db: PathBuf,
    /// Values to set
    #[arg(required = true, value_name = "ID=VALUE")]
    pub items: Vec<String>,
}

#[derive(Debug, Args)]
pub struct MintArgs {
    /// The minting node's identity file (signs; `sslx keygen --name N --out FILE`)
    #[arg(long, value_name = "FILE")]
    pub key: PathBuf,
    /// The minting node's id (0-65535), unique among cooperating nodes
    #[arg(long, value_name = "ID")]
    pub node: u16,
    /// Seal the session data to this node: a file with its keyring line `NODE_ID sslx-pub1…`
    #[arg(long, value_name = "PUBFILE")]
    pub to: Option<PathBuf>,
    /// How long the session stays valid (30s, 15m, 24h, 7d)
    #[arg(long, value_name = "DURATION", default_value = "15m")]
    pub ttl: String,
    /// The User-ID field
    #[arg(long, value_name = "ID")]
    pub user: Option<String>,
    /// The Email-Address field
    #[arg(long, value_name = "ADDR")]
    pub email: Option<String>,
    /// The Telephone field (or @NODE.ID)
    #[arg(long, value_name = "TEL")]
    pub phone: Option<String>,
    /// The Postal-Address field (or @NODE.ID)
    #[arg(long, value_name = "ADDR")]
    pub address: Option<String>,
    /// The Version field: the version of this node's out-of-band data (`sslx token store` prints it)
    #[arg(long, value_name = "N")]
    pub data_version: Option<u64>,
    /// A field of the session data (repeatable): User-ID=fred, Telephone=@1.Fred.Telephone
    #[arg(long = "field", value_name = "KEY=VALUE")]
    pub fields: Vec<String>,
    /// More fields from FILE (- for stdin): `Key: Value` lines, or one JSON object
    #[arg(long = "fields", value_name = "FILE")]
    pub fields_file: Option<String>,
    /// Refuse a token longer than this many characters
    #[arg(long, value_name = "CHARS", default_value_t = crate::token::DEFAULT_MAX_LEN)]
    pub max_size: usize,
    /// Print a migration URL: BASE with the token as its `sslx_token` query parameter
    #[arg(long, value_name = "BASE", conflicts_with = "cookie")]
    pub url: Option<String>,
    /// Print a Set-Cookie header carrying the token
    #[arg(long)]
    pub cookie: bool,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The token (- reads it from stdin)
    #[arg(value_name = "TOKEN|-")]
    pub token: String,
    /// Trusted nodes: `NODE_ID PUBLIC-KEY-LINE` a line
    #[arg(long, value_name = "FILE")]
    pub keyring: PathBuf,
    /// This node's identity file, to open tokens sealed to it
    #[arg(long, value_name = "FILE", requires = "node")]
    pub key: Option<PathBuf>,
    /// This node's id
    #[arg(long, value_name = "ID")]
    pub node: Option<u16>,
    /// Clock skew allowed on Created and Expires
    #[arg(long, value_name = "DURATION", default_value = "5s")]
    pub skew: String,
    /// Refuse a token longer than this many characters (as minting does)
    #[arg(long, value_name = "CHARS", default_value_t = crate::token::DEFAULT_MAX_LEN)]
    pub max_size: usize,
}

#[derive(Debug, Args)]
pub struct PairArgs {
    /// The peer to pair with (its name at the CDS, or NAME@HOST:PORT of a `sslx pair --accept --bind`)
    #[arg(required_unless_present = "accept", conflicts_with = "accept")]
    pub peer: Option<String>,
    /// Wait for a peer's pairing call (on hook at the CDS, or on --bind ADDR)
    #[arg(long)]
    pub accept: bool,
    /// The acceptor: listen directly on ADDR instead of the CDS relay
    #[arg(long, value_name = "ADDR", requires = "accept")]
    pub bind: Option<String>,
    /// The string the other side shows: the acceptor is given the initiator's (else SSLX_SAS,
    /// --sas-file, a prompt); an initiator with --yes is given the acceptor's
    #[arg(long, env = "SSLX_SAS", value_name = "X", hide_env_values = true)]
    pub sas: Option<String>,
    /// Read that string from FILE (- for stdin, read once the exchange is done)
    #[arg(long, value_name = "FILE")]
    pub sas_file: Option<String>,
    /// The initiator: do not ask whether the peer confirmed; instead compare the string the
    /// acceptor shows (--sas or --sas-file) with this side's. Also accepts a listener not met before
    #[arg(long, short = 'y', env = "SSLX_YES")]
    pub yes: bool,
    /// Also show the string as a QR code on stderr (the default on a terminal: a phone's camera
    /// reads it out)
    #[arg(long, overrides_with = "no_qr")]
    pub qr: bool,
    /// No QR code, even on a terminal
    #[arg(long)]
    pub no_qr: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SuiteArg {
    /// ChaCha20-Poly1305 or AES-256-GCM in 64 KiB records (default)
    Aead,
    /// The seed's triple-DES EDE in CBC mode, HMAC-SHA-256 per record
    #[value(name = "3des")]
    TripleDes,
}

#[derive(Debug, Args)]
pub struct SendArgs {
    /// Files and directories to send (- alone: a tar stream on stdin, sent as it is)
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// The paired peer; again for more (--to bob --to carol: one pass over the data, one bundle
    /// each can open, live to those listening, the mailbox for the rest)
    #[arg(long, value_name = "PEER", required_unless_present = "to_file")]
    pub to: Vec<String>,
    /// Recipients from FILE (- for stdin), one name a line; blank lines and # comments skipped
    #[arg(long, value_name = "FILE")]
    pub to_file: Option<PathBuf>,
    /// Cipher suite of the bundle
    #[arg(long, value_enum, default_value_t = SuiteArg::Aead)]
    pub suite: SuiteArg,
    /// Write the bundle to FILE (- for stdout) instead of sending it live
    #[arg(long, value_name = "FILE")]
    pub out: Option<String>,
    /// With --out: an armored bundle (base64 between BEGIN/END lines, for email or a paste);
    /// `sslx recv --in` tells it apart by itself
    #[arg(long, requires = "out")]
    pub armor: bool,
    /// Never leave the bundle in the CDS mailbox: fail when the peer is not listening
    #[arg(long)]
    pub no_mailbox: bool,
    /// Do not compress (zstd is skipped by itself where it does not pay)
    #[arg(long)]
    pub no_compress: bool,
    /// Connect to PEER at HOST:PORT (a `sslx recv --bind`) instead of through the relay
    #[arg(long, value_name = "HOST:PORT")]
    pub direct: Option<String>,
}

#[derive(Debug, Args)]
pub struct RecvArgs {
    /// Where received files go (created if missing); strftime fields (%F, %Y, %m, %H…; %% for %)
    /// are filled in at each arrival [default: ., or into in sslx.toml]
    #[arg(long, value_name = "DIR")]
    pub into: Option<String>,
    /// What to do with a received name that already exists: fail (refuse; a live transfer then
    /// waits in the mailbox), rename (report.1.pdf), overwrite, or skip [default: fail]
    #[arg(long, value_name = "HOW", value_parser = on_conflict())]
    pub on_conflict: Option<crate::courier::tree::OnConflict>,
    /// After each arrival, run CMD (sh -c) with the placed paths as its arguments ("$@") and
    /// SSLX_PEER, SSLX_BUNDLE, SSLX_INTO, SSLX_VIA, SSLX_FILES, SSLX_BYTES set
    #[arg(long, value_name = "CMD")]
    pub exec_after: Option<String>,
    /// One transfer, then exit with its status
    #[arg(long)]
    pub once: bool,
    /// Open a bundle from FILE (- for stdin) instead of taking calls
    #[arg(long, value_name = "FILE", conflicts_with_all = ["once", "bind", "from_mailbox"])]
    pub r#in: Option<String>,
    /// Fetch and open what waits in the CDS mailbox, then exit
    #[arg(long)]
    pub from_mailbox: bool,
    /// Take calls directly on ADDR instead of on hook at the CDS
    #[arg(long, value_name = "ADDR")]
    pub bind: Option<String>,
    /// Transfers received at the same time (without --once) [default: 4]
    #[arg(long, value_name = "N")]
    pub max_transfers: Option<usize>,
}

fn on_conflict() -> impl clap::builder::TypedValueParser<Value = crate::courier::tree::OnConflict> {
    use clap::builder::TypedValueParser;
    clap::builder::PossibleValuesParser::new(["fail", "rename", "overwrite", "skip"])
        .map(|s| s.parse().expect("one of the possible values"))
}

#[derive(Debug, Args)]
pub struct LogArgs {
    /// Only the send log
    #[arg(long, conflicts_with = "received")]
    pub sent: bool,
    /// Only the receive log (the inbox)
    #[arg(long)]
    pub received: bool,
}

#[derive(Debug, Args)]
pub struct SessionFlags {
    /// No X25519 ephemeral keys: the seed's plain mode (no forward secrecy)
    #[arg(long)]
    pub no_fs: bool,
    /// Always make a full handshake (do not resume a cached session)
    #[arg(long)]
    pub no_resume: bool,
    /// The service, through the CDS relay: a participant may run several listeners, one per
    /// service, beside `sslx recv` (files) and `sslx pair --accept` (pair)
    #[arg(long, default_value = crate::relay::service::SESSION, value_name = "NAME", value_parser = service_name)]
    pub service: String,
}

fn service_name(s: &str) -> Result<String, String> {
    crate::relay::service::check(s).map(|()| s.to_owned())
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
    pub allow: AllowFlags,
    #[command(flatten)]
    pub session: SessionFlags,
}

#[derive(Debug, Args)]
pub struct AllowFlags {
    /// Take calls from this participant (repeatable)
    #[arg(long = "allow", value_name = "NAME")]
    pub names: Vec<String>,
    /// Take calls from the participants named in FILE (one a line, # comments), read at each call
    #[arg(long, value_name = "FILE")]
    pub allowed_peers: Option<std::path::PathBuf>,
    /// Take calls from any participant enrolled at the CDS (also with --exec)
    #[arg(long, conflicts_with_all = ["names", "allowed_peers"])]
    pub allow_any: bool,
}

#[derive(Debug, Args)]
pub struct DialArgs {
    /// The peer: its name (through the CDS relay), or NAME@HOST:PORT (or HOST:PORT, for a
    /// listener met there before) of a `sslx listen --bind`
    pub peer: String,
    /// Accept a listener this home has not met at HOST:PORT, and remember it
    #[arg(long, short = 'y', env = "SSLX_YES")]
    pub yes: bool,
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
    #[arg(
        long,
        value_name = "ADDR",
        required_unless_present_any = ["confirm", "renew"],
        conflicts_with_all = ["confirm", "renew"]
    )]
    pub email: Option<String>,
    /// Out-of-band channel for the PIN (reply C), as a URI
    #[arg(
        long,
        value_name = "URI",
        required_unless_present_any = ["confirm", "renew"],
        conflicts_with_all = ["confirm", "renew"]
    )]
    pub oob: Option<String>,
    /// Also write reply A to FILE ('-' for stdout)
    #[arg(long, value_name = "FILE|-", conflicts_with = "confirm")]
    pub out: Option<String>,
    /// Re-enroll a registered name under a new key: the old identity file signs the request too
    #[arg(long, value_name = "OLD-IDENTITY", conflicts_with = "confirm")]
    pub prove_with: Option<PathBuf>,
    /// Send the confirmation wrapped in the assembled CDS key
    #[arg(long, conflicts_with = "renew")]
    pub confirm: bool,
    /// Renew the CDS key before it expires, proved with the current one (no admin, email or PIN)
    #[arg(long, conflicts_with_all = ["out", "prove_with"])]
    pub renew: bool,
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

#[derive(Debug, Args)]
pub struct UnpairArgs {
    /// The peer to forget
    #[arg(value_name = "PEER")]
    pub peer: String,
}

#[derive(Debug, Args)]
pub struct ExecArgs {
    /// Through this gateway instead of the one of sslx login (any gateway of the KDC takes the login)
    #[arg(long, value_name = "URL")]
    pub gateway: Option<String>,
    /// With --gateway: accept only its certificate with this fingerprint
    #[arg(long, value_name = "sha256:HEX", requires = "gateway")]
    pub gateway_fingerprint: Option<String>,
    /// Give the command no stdin (else stdin goes to it when it is not a terminal)
    #[arg(short = 'n', long)]
    pub no_stdin: bool,
    /// Run as this local user (the host's ACL must allow it; default: the ACL's)
    #[arg(long = "as", value_name = "USER")]
    pub as_user: Option<String>,
    /// The managed host (a host principal of the KDC)
    #[arg(value_name = "HOST")]
    pub host: String,
    /// The command and its arguments (after --); the program by its absolute path
    #[arg(value_name = "COMMAND", last = true, required = true)]
    pub command: Vec<String>,
}

#[derive(Debug, Args)]
pub struct LoginArgs {
    /// The gateway's URL (https://HOST:PORT)
    #[arg(long, env = "SSLX_GATEWAY", value_name = "URL")]
    pub gateway: String,
    /// Accept only the gateway certificate with this fingerprint (sha256:HEX, as sslx-gateway prints it)
    #[arg(long, env = "SSLX_GATEWAY_FINGERPRINT", value_name = "sha256:HEX")]
    pub gateway_fingerprint: Option<String>,
    /// Read the password from FILE (its content, trimmed) instead of SSLX_PASSWORD or the prompt
    #[arg(long, value_name = "FILE")]
    pub password_file: Option<String>,
    /// The user (a principal of the gateway's KDC)
    #[arg(value_name = "USER")]
    pub user: String,
}

/// The gateway of remote execution (seed 003): logs users in at the KDC over HTTPS and keeps
/// nothing between requests.
#[derive(Debug, Parser)]
#[command(
    name = "sslx-gateway",
    version,
    after_help = "On start, one JSON line on stdout: {\"listen\": URL, \"fingerprint\": \"sha256:HEX\"}.\n--dev makes a self-signed certificate for localhost and 127.0.0.1 (in memory only); clients pin\nits fingerprint (sslx login --gateway-fingerprint). The key table is the gateway's own, from\nsslx-cds gateway add. With --web-key FILE (or --dev) it also serves browsers at /: a login form,\nthen a command form whose output streams into the page; the session is a cookie sealed with\nthat key (docs/PROTOCOL.md 5I). SIGINT/SIGTERM stop it.\nExit status: 0 stopped, 1 a file cannot be read, 2 usage (no certificate and no --dev, a key table\nthat is not a gateway's or readable by others, a web key that is not one or is readable by\nothers), 7 the address cannot be bound."
)]
pub struct GatewayCli {
    /// Where to take HTTPS connections
    #[arg(long, default_value = "127.0.0.1:8443", value_name = "ADDR")]
    pub listen: String,
    /// The CDS (its KDC) to log users in at
    #[arg(long, env = "SSLX_CDS", value_name = "HOST:PORT")]
    pub cds: String,
    /// The gateway's key table (sslx-cds gateway add NAME --keytab FILE)
    #[arg(long, value_name = "FILE")]
    pub keytab: PathBuf,
    /// The certificate chain, PEM
    #[arg(long, value_name = "FILE", requires = "key", conflicts_with = "dev")]
    pub cert: Option<PathBuf>,
    /// The certificate's private key, PEM (0600)
    #[arg(long, value_name = "FILE", requires = "cert")]
    pub key: Option<PathBuf>,
    /// A self-signed certificate made at start (for trying things out)
    #[arg(long)]
    pub dev: bool,
    /// Logins that may derive keys at once (each takes the user's Argon2id memory)
    #[arg(long, value_name = "N", default_value_t = crate::gateway::LOGINS_AT_ONCE)]
    pub logins_at_once: usize,
    /// Connections at once from one address
    #[arg(long, value_name = "N", default_value_t = 16)]
    pub per_source: usize,
    /// The least Argon2id memory (KiB) accepted from the KDC for a user's key
    #[arg(long, value_name = "KIB", default_value_t = crate::kdc::client::MIN_ARGON2_MEMORY)]
    pub min_argon2_memory: u32,
    /// Where a host's sslx-execd listens (repeatable); a host not named is reached at NAME:7460
    #[arg(long = "host", value_name = "NAME=HOST:PORT")]
    pub hosts: Vec<String>,
    /// The key of the web face's sessions (64 hex digits, 0600; made when missing). Every
    /// gateway behind one name needs the same file. Without it (and without --dev) there is no
    /// web face
    #[arg(long, value_name = "FILE")]
    pub web_key: Option<PathBuf>,
    /// Bytes of a command's output a web page shows; past them the command is stopped
    #[arg(long, value_name = "BYTES", default_value_t = crate::gateway::web::WEB_MAX_OUTPUT)]
    pub web_max_output: u64,
}

/// The daemon of remote execution on a managed host (seed 003): runs what a gateway asks for
/// a principal whose KDC service ticket it proves, as the ACL allows.
#[derive(Debug, Parser)]
#[command(
    name = "sslx-execd",
    version,
    subcommand_negates_reqs = true,
    after_help = "On start, one JSON line on stdout: {\"listen\": ADDR, \"host\": NAME} (none with --inetd). The host's\nname is its key table's (sslx-cds host add NAME --keytab FILE); the ACL file (TOML: [[rule]]\nprincipal, user, commands) says who may run what as whom (docs/PROTOCOL.md 5H). Run as root it\nruns each command as the ACL's local user (its groups dropped); otherwise only as its own user.\nEach command gets a clean environment (PATH, HOME, USER, LOGNAME, SSLX_PRINCIPAL, SSLX_CLIENT) in\nthe user's home.\nThe audit trail: a record when a command is denied, when it starts and when it ends (principal,\nthe user's address, the gateway, the command, local user, decision, exit code or signal, bytes\nout), to syslog (--syslog, RFC 3164 lines of JSON cut to --syslog-max-line, each with the hash of\nits --audit-file line) and to --audit-file, a hash-chained file of JSON lines that sslx-execd\naudit verify checks. A sink that is down loses lines (said in the log); it never holds up a\ncommand.\nUnder inetd or a systemd socket with Accept=yes (contrib/sslx-execd.socket), --inetd serves the\none connection on stdin.\nSIGINT/SIGTERM stop it.\nExit status: 0 stopped, 1 a file cannot be read, 2 usage (a key table that is not a host's or is\nreadable by others, an ACL that does not parse, an audit file others may write), 7 the address\ncannot be bound."
)]
pub struct ExecdCli {
    #[command(subcommand)]
    pub command: Option<ExecdCommand>,
    /// Where to take the gateways' connections
    #[arg(long, default_value = "0.0.0.0:7460", value_name = "ADDR")]
    pub listen: String,
    /// Serve the one connection on stdin (a socket from inetd or systemd's Accept=yes), then exit
    #[arg(long)]
    pub inetd: bool,
    /// The host's key table (sslx-cds host add NAME --keytab FILE)
    #[arg(long, value_name = "FILE", required = true)]
    pub keytab: Option<PathBuf>,
    /// The ACL file: who may run what, as whom
    #[arg(long, value_name = "FILE", required = true)]
    pub acl: Option<PathBuf>,
    /// Commands that may run at once (connections in their handshake count apart: 8 per source)
    #[arg(long, value_name = "N", default_value_t = 32)]
    pub max_at_once: usize,
    /// Seconds a command may run before it is killed (0: no limit)
    #[arg(long, value_name = "SECS", default_value_t = 3600)]
    pub timeout: u64,
    /// Bytes of output (stdout and stderr) a command may give before it is killed (0: no limit)
    #[arg(long, value_name = "BYTES", default_value_t = 256 << 20)]
    pub max_output: u64,
    /// The hash-chained audit file (JSON lines, created 0600; sslx-execd audit verify FILE)
    #[arg(long, value_name = "FILE")]
    pub audit_file: Option<PathBuf>,
    /// Refuse a command when the audit file does not take its record (a full disk, say)
    #[arg(long, requires = "audit_file")]
    pub audit_required: bool,
    /// Where audit lines go: local (/dev/log), unix:PATH, udp:HOST:PORT, tcp:HOST:PORT, or none
    #[arg(long, value_name = "TARGET", default_value = "local")]
    pub syslog: String,
    /// The syslog facility of the audit lines (auth, authpriv, daemon, local0..local7, ...)
    #[arg(long, value_name = "NAME", default_value = "authpriv")]
    pub syslog_facility: String,
    /// The longest syslog line sent, its header included (480 or more; the command is cut first)
    #[arg(long, value_name = "BYTES", default_value_t = 1024)]
    pub syslog_max_line: usize,
}

#[derive(Debug, Subcommand)]
pub enum ExecdCommand {
    /// The audit trail: verify a hash-chained audit file
    #[command(
        subcommand,
        after_help = "Exit status: 0 the chain holds, 1 the file cannot be read, 2 usage, 3 the chain breaks."
    )]
    Audit(AuditCommand),
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Check that no line of an audit file was changed, removed or inserted
    #[command(
        after_help = "Each line's prev must be the SHA-256 of the line before (64 zeros for the first) and its seq one more.\nPrints the number of records and the last line's hash, which the syslog collector also holds\n(the line's \"hash\"): a file cut after that line verifies, the hash tells.\nExit status: 0 the chain holds, 1 the file cannot be read, 3 the chain breaks (the line is named)."
    )]
    Verify {
        /// The audit file (sslx-execd --audit-file); several, oldest first, for rotated files
        /// that continue one chain
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// One JSON object: {"records": N, "last_hash": HEX}
        #[arg(long)]
        json: bool,
    },
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
        after_help = "On start, one JSON line on stdout says where everything is:\n  {\"listen\": ADDR, \"http\": URL, \"db\": PATH|URL, \"key_file\": FILE, \"mailbox_dir\": DIR,\n   \"outbox\": DIR|null, \"oob_dir\": DIR|null}\n--dev needs nothing outside: state in a temp dir, email as .eml files in an outbox folder,\nout-of-band messages as files in a folder.\nThe outbox, the out-of-band folder and the mailbox hold secrets: a missing one is made 0700, an\nexisting one is made 0700, and one that group or others can write in (/tmp) is refused, untouched.\nSMS/voice gateway (Twilio-compatible): --twilio-url, SSLX_TWILIO_SID, SSLX_TWILIO_TOKEN, SSLX_TWILIO_FROM.\nSMTP credentials: in the URL, or SSLX_SMTP_USER and SSLX_SMTP_PASSWORD.\nAs a service: --config FILE (TOML, serve's flags without their --: listen = \"0.0.0.0:7450\"; flags\nand environment win; contrib/cds.toml), READY=1 to systemd (Type=notify) once bound,\nSeveral instances on one PostgreSQL: --db postgres://…, the same --key-file and --mailbox-dir on\neach, --advertise HOST:PORT where participants reach each one (docs/PROTOCOL.md 5C.1).\nSIGTERM/SIGINT stop taking connections, end the hooks and give what is under way\n--drain-timeout s; SIGHUP reopens --log-file. contrib/sslx-cds.service is a unit to start from.\nExit status: 0 stopped (SIGINT/SIGTERM), 1 the database, a folder or the mail relay cannot be used,\n2 usage (a bad limit, address or --smtp URL, no way to send email, a key file missing or of\nanother database), 7 an address cannot be bound."
    )]
    Serve(Box<ServeArgs>),
    /// The call log (billing tape): tracking id, caller, callee, start, end, bytes each way, result
    #[command(after_help = "Exit status: 0 printed, 1 the database cannot be read, 2 usage, 6 no database at --db.")]
    Calls(CallsArgs),
    /// Forget a participant's registration, so its name can be enrolled again by any key
    #[command(
        after_help = "Exit status: 0 released, 1 the database cannot be written, 6 no such participant, or no database at --db."
    )]
    Release(ReleaseArgs),
    /// Bring the database's schema to this sslx's version (serve does it at start)
    #[command(
        after_help = "Migrations are one-way and run in one transaction (all or none); instances starting together\nwait for one another. Upgrade every instance that shares a PostgreSQL database together.\nExit status: 0 the schema is at this version, 1 the database cannot be used or is of a newer sslx,\n2 usage, 6 no SQLite file at --db."
    )]
    Migrate(MigrateArgs),
    /// The KDC's users (seed 003, remote execution): add, passwd, disable, enable, del, list
    #[command(
        subcommand,
        after_help = "The CDS is the key distribution center of remote execution (docs/PROTOCOL.md 5F). These commands\nchange its database directly (--db); a running sslx-cds sees the change at its next request.\nExit status: 0 done, 1 the database cannot be used, 2 usage, 6 no such principal or no database."
    )]
    Principal(PrincipalCommand),
    /// The KDC's hosts, each running sslx-execd with its key table: add, rotate
    #[command(
        subcommand,
        after_help = "Exit status: 0 done, 1 the database or the key table cannot be written, 2 usage, 6 no such host\nor no database."
    )]
    Host(ServiceCommand),
    /// The KDC's gateways, each running sslx-gateway with its key table: add, rotate
    #[command(
        subcommand,
        after_help = "A gateway's key wraps everything it asks the KDC for its users.\nExit status: 0 done, 1 the database or the key table cannot be written, 2 usage, 6 no such\ngateway or no database."
    )]
    Gateway(ServiceCommand),
}

/// The CDS database a KDC command works on (it must exist: the CDS made it).
#[derive(Debug, Args)]
pub struct KdcDbArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    /// What was done as one JSON object on stdout (list: one a line), instead of a line on stderr
    #[arg(long)]
    pub json: bool,
}

/// The CDS database a command reads or changes: a SQLite file, or a PostgreSQL database that
/// several `sslx-cds serve` share.
#[derive(Debug, Clone, Args)]
pub struct StoreArgs {
    /// The CDS database: a SQLite file, or postgres://USER@HOST[:PORT]/DB[?sslmode=require]
    #[arg(long, env = "SSLX_CDS_DB", default_value = "sslx-cds.db", value_name = "PATH|URL")]
    pub db: PathBuf,
    /// The key file that seals the database's keys [default: DB.key beside a SQLite file;
    /// PostgreSQL: required, the same file as the instances']
    #[arg(long, value_name = "FILE")]
    pub key_file: Option<PathBuf>,
    /// Root certificates (PEM) for a PostgreSQL server's TLS certificate, besides the web's roots
    #[arg(long, value_name = "FILE")]
    pub db_ca: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum PrincipalCommand {
    /// Add a user; the password comes from SSLX_PASSWORD, --password-file or a prompt (twice)
    #[command(
        after_help = "The KDC keeps only the key derived from the password (Argon2id, with a random salt and the
costs given, stored with it), sealed under the database's key file.
Exit status: 0 added, 1 the database cannot be written, 2 usage (the name is taken, no password
and no terminal), 6 no database at --db."
    )]
    Add(PrincipalAddArgs),
    /// Set a user's password (a new salt; the old password stops working at once)
    #[command(
        after_help = "Exit status: 0 set, 1 the database cannot be written, 2 usage, 6 no such user or no database."
    )]
    Passwd(PrincipalPasswdArgs),
    /// Refuse a principal at once: logins, and tickets for its logins made before
    #[command(
        after_help = "Exit status: 0 disabled, 1 the database cannot be written, 6 no such principal or no database."
    )]
    Disable(PrincipalNameArgs),
    /// Let a disabled principal in again
    #[command(
        after_help = "Exit status: 0 enabled, 1 the database cannot be written, 6 no such principal or no database."
    )]
    Enable(PrincipalNameArgs),
    /// Delete a principal (a user, a host or a gateway)
    #[command(
        after_help = "Exit status: 0 deleted, 1 the database cannot be written, 6 no such principal or no database."
    )]
    Del(PrincipalNameArgs),
    /// List the principals: name, kind, key version, state, created
    #[command(after_help = "Exit status: 0 listed, 1 the database cannot be read, 6 no database at --db.")]
    List(PrincipalListArgs),
}

#[derive(Debug, Args)]
pub struct PrincipalAddArgs {
    /// The user's name (1-64 of a-z 0-9 . _ -)
    pub name: String,
    /// Read the password from FILE (its content, trimmed) instead of SSLX_PASSWORD or the prompt
    #[arg(long, value_name = "FILE")]
    pub password_file: Option<String>,
    /// Argon2id memory, KiB
    #[arg(long, value_name = "KIB", default_value_t = crate::kdc::DEFAULT_ARGON2.0)]
    pub argon2_memory: u32,
    /// Argon2id passes
    #[arg(long, value_name = "N", default_value_t = crate::kdc::DEFAULT_ARGON2.1)]
    pub argon2_passes: u32,
    /// Argon2id lanes
    #[arg(long, value_name = "N", default_value_t = crate::kdc::DEFAULT_ARGON2.2)]
    pub argon2_lanes: u32,
    #[command(flatten)]
    pub db: KdcDbArgs,
}

#[derive(Debug, Args)]
pub struct PrincipalPasswdArgs {
    /// The user's name
    pub name: String,
    /// Read the password from FILE (its content, trimmed) instead of SSLX_PASSWORD or the prompt
    #[arg(long, value_name = "FILE")]
    pub password_file: Option<String>,
    #[command(flatten)]
    pub db: KdcDbArgs,
}

#[derive(Debug, Args)]
pub struct PrincipalNameArgs {
    /// The principal's name
    pub name: String,
    #[command(flatten)]
    pub db: KdcDbArgs,
}

#[derive(Debug, Args)]
pub struct PrincipalListArgs {
    #[command(flatten)]
    pub db: KdcDbArgs,
}

#[derive(Debug, Subcommand)]
pub enum ServiceCommand {
    /// Add the principal with a random key, written to its key table (0600)
    #[command(
        after_help = "The key table is what the service reads its key from: copy it to the machine that runs it,
readable by that service only (it is refused when group or others can read it).
Exit status: 0 added, 1 the database or the key table cannot be written, 2 usage (the name is
taken, the key table exists), 6 no database at --db."
    )]
    Add(ServiceAddArgs),
    /// Give the principal a new key; the previous one stays in use for --grace (both go in the key table)
    #[command(
        after_help = "The new key table holds both keys. For a host, tickets are still made under the previous key\nwhile the grace lasts (the host has that one), under the new key after it: copy the new table\nto the host within the grace. A gateway may ask with either key during the grace. --grace 0\nswitches at once (a key that leaked).\nExit status: 0 rotated, 1 the database or the key table cannot be written, 2 usage, 6 no such\nprincipal or no database."
    )]
    Rotate(ServiceRotateArgs),
}

#[derive(Debug, Args)]
pub struct ServiceAddArgs {
    /// The principal's name (a host's as sslx exec names it)
    pub name: String,
    /// Where to write the key table
    #[arg(long, value_name = "FILE")]
    pub keytab: PathBuf,
    #[command(flatten)]
    pub db: KdcDbArgs,
}

#[derive(Debug, Args)]
pub struct ServiceRotateArgs {
    /// The principal's name
    pub name: String,
    /// Where to write the key table (both keys)
    #[arg(long, value_name = "FILE")]
    pub keytab: PathBuf,
    /// How long the previous key stays valid: seconds, or 90m, 24h, 7d
    #[arg(long, value_name = "AGE", default_value = "24h")]
    pub grace: String,
    #[command(flatten)]
    pub db: KdcDbArgs,
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
    #[command(flatten)]
    pub store: StoreArgs,
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
    /// The CDS database: a SQLite file, or postgres://USER@HOST[:PORT]/DB[?sslmode=require] that
    /// several instances share [default: sslx-cds.db, or in the temp dir with --dev]
    #[arg(long, env = "SSLX_CDS_DB", value_name = "PATH|URL")]
    pub db: Option<PathBuf>,
    /// The key file that seals every CDS key in the database (made 0600 on first start; keep it
    /// apart from database backups) [default: DB.key beside a SQLite file; PostgreSQL: required,
    /// the same file on every instance]
    #[arg(long, value_name = "FILE")]
    pub key_file: Option<PathBuf>,
    /// Root certificates (PEM) for the PostgreSQL server's TLS certificate, besides the web's roots
    #[arg(long, value_name = "FILE")]
    pub db_ca: Option<PathBuf>,
    /// PostgreSQL connections this instance keeps open at most
    #[arg(long, value_name = "N", default_value_t = 16)]
    pub db_pool: usize,
    /// Where participants reach this instance, HOST:PORT: a ring for a callee hooked at another
    /// instance names it, and the callee answers there [default: the --listen address]
    #[arg(long, value_name = "HOST:PORT")]
    pub advertise: Option<String>,
    /// The protocol addresses participants remember at enrollment (reply A announces them;
    /// several instances: all of them, comma-separated or the flag again) [default: none: a
    /// participant keeps the address it enrolled through]
    #[arg(long, value_name = "HOST:PORT,...")]
    pub announce: Vec<String>,
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
    /// Let webhooks reach loopback, private, link-local and other non-public addresses
    #[arg(long)]
    pub allow_private_webhooks: bool,
    /// Open requests (each one sends an email and a PIN) allowed from one source address (N/PERIOD, or off)
    #[arg(long, value_name = "N/PERIOD", default_value = "30/h")]
    pub rate_source: String,
    /// Open requests allowed for one email address (N/PERIOD, or off)
    #[arg(long, value_name = "N/PERIOD", default_value = "10/h")]
    pub rate_email: String,
    /// Open requests allowed for one out-of-band destination (N/PERIOD, or off)
    #[arg(long, value_name = "N/PERIOD", default_value = "10/h")]
    pub rate_oob: String,
    /// Open requests allowed from everyone together (N/PERIOD, or off)
    #[arg(long, value_name = "N/PERIOD", default_value = "1000/h")]
    pub rate_open_total: String,
    /// Texts and voice calls (sms:, voice:) sent for everyone together: they cost money (N/PERIOD, or off)
    #[arg(long, value_name = "N/PERIOD", default_value = "100/h")]
    pub rate_phone_total: String,
    /// Country codes that sms: and voice: numbers may have, comma-separated, e.g. +1,+44 [default: any]
    #[arg(long, value_name = "PREFIXES", value_delimiter = ',')]
    pub phone_prefixes: Vec<String>,
    /// Connections from one source address (an IPv6 one by its /64) that may wait to send their request
    #[arg(long, value_name = "N", default_value_t = 64)]
    pub max_waiting_per_source: usize,
    /// Requests worked on at once (lowered to fit the open-file limit); a quarter may be open requests
    #[arg(long, value_name = "N", default_value_t = 1024)]
    pub max_working: usize,
    /// Calls, deposits and collections one participant may have open at once
    #[arg(long, value_name = "N", default_value_t = 256)]
    pub streams_per_participant: usize,
    /// Seconds a relayed session may pass no byte either way before it is cut
    #[arg(long, value_name = "SECS", default_value_t = 900)]
    pub splice_idle: u64,
    /// Seconds between keepalives down an idle hook (a callee that hears nothing for three of them hooks again; 0: none)
    #[arg(long, value_name = "SECS", default_value_t = 30, value_parser = clap::value_parser!(u16).range(0..=3600))]
    pub hook_keepalive: u16,
    /// /v1/health also says how many participants are on hook (off: it only says the CDS is up)
    #[arg(long)]
    pub health_detail: bool,
    /// Site command for exec: and other site channels (message on stdin, destination in $SSLX_OOB_TO)
    #[arg(long, value_name = "CMD")]
    pub oob_exec: Option<String>,
    /// Accept calls from any address (default: only from the address a participant enrolled from)
    #[arg(long)]
    pub no_source_check: bool,
    /// Where bundles wait for recipients who are not listening; with PostgreSQL, a directory every
    /// instance mounts at this same path [default: DB.mailbox beside a SQLite file]
    #[arg(long, value_name = "DIR")]
    pub mailbox_dir: Option<PathBuf>,
    /// Bytes that may wait for one recipient
    #[arg(long, value_name = "BYTES", default_value_t = 1 << 30)]
    pub mailbox_quota: u64,
    /// Bytes that may wait for one recipient from one sender
    #[arg(long, value_name = "BYTES", default_value_t = 1 << 29)]
    pub mailbox_sender_quota: u64,
    /// Bytes one sender may have waiting, for all its recipients together
    #[arg(long, value_name = "BYTES", default_value_t = 1 << 31)]
    pub mailbox_sender_total: u64,
    /// Bytes that may wait in the whole mailbox
    #[arg(long, value_name = "BYTES", default_value_t = 1 << 36)]
    pub mailbox_total: u64,
    /// Bytes the mailbox's filesystem must keep free: deposits that would leave less are refused
    #[arg(long, value_name = "BYTES", default_value_t = 1 << 30)]
    pub mailbox_min_free: u64,
    /// Days a bundle waits before it is dropped
    #[arg(long, value_name = "DAYS", default_value_t = 7)]
    pub mailbox_days: u64,
    /// Base URL of a Twilio-compatible SMS/voice API
    #[arg(long, env = "SSLX_TWILIO_URL", value_name = "URL")]
    pub twilio_url: Option<String>,
    /// Settings from FILE (TOML: serve's flags without their --, e.g. listen = "0.0.0.0:7450",
    /// health-detail = true); flags and environment variables given win
    #[arg(long, env = "SSLX_CDS_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Log to FILE (appended, a time on each line) instead of stderr; SIGHUP reopens it (logrotate)
    #[arg(long, value_name = "FILE")]
    pub log_file: Option<PathBuf>,
    /// On SIGTERM or SIGINT: stop taking connections, end the hooks (callees come back on their
    /// own), and give relayed calls and deposits under way this long to finish
    #[arg(long, value_name = "SECS", default_value_t = 30)]
    pub drain_timeout: u64,
}

#[derive(Debug, Args)]
pub struct ReleaseArgs {
    /// The participant's name
    pub name: String,
    #[command(flatten)]
    pub store: StoreArgs,
}

#[derive(Debug, Args)]
pub struct MigrateArgs {
    #[command(flatten)]
    pub store: StoreArgs,
}

/// The EXAMPLES of each man page (`sslx-send`, `sslx-cds-serve`…): command lines, each with what
/// it does. Every page has some.
pub fn examples(page: &str) -> &'static [(&'static str, &'static str)] {
    match page {
        "sslx" => &[
            ("sslx keygen --name web1", "make this machine's identity"),
            ("sslx status", "where this machine stands: identity, CDS, CDS key, pairs"),
        ],
        "sslx-keygen" => &[
            ("sslx keygen --name web1", "an identity in the home (0600), its public line on stdout"),
            ("sslx keygen --name node1 --out node1.key", "a node's key for session tokens"),
        ],
        "sslx-vsu" => &[
            ("sslx vsu --email ops@example.com --oob sms:+15551234567", "ask the CDS to enroll this machine"),
            ("sslx vsu --confirm", "confirm the assembled CDS key"),
            ("sslx vsu --renew", "renew the CDS key before it expires (no email or PIN)"),
        ],
        "sslx-assemble-key" => &[
            ("sslx assemble-key --reply-b reply-b.eml", "put the key together; the PIN is asked for"),
            ("SSLX_PIN=$(cat pin) sslx assemble-key --reply-b - < mail.eml", "unattended, the email on stdin"),
        ],
        "sslx-standing" => &[("sslx standing web1 --json", "web1's public standing at the CDS, for a script")],
        "sslx-status" => &[("sslx status --json", "identity, CDS, CDS key expiry, pairs and mailbox as one object")],
        "sslx-pairs" => &[("sslx pairs", "the peers this machine is paired with, and since when")],
        "sslx-unpair" => &[("sslx unpair bob", "forget the pair key shared with bob")],
        "sslx-listen" => &[
            ("sslx listen > incoming.tar", "take one caller's stream (on hook at the CDS)"),
            ("sslx listen --exec 'tar x -C /srv/in' --allow alice", "run a command for each call from alice"),
        ],
        "sslx-dial" => &[
            ("tar cf - reports | sslx dial backup1", "stream to backup1 through the CDS relay"),
            ("sslx dial db1@10.0.0.7:7460 < query.sql", "straight to db1's sslx listen --bind"),
        ],
        "sslx-handshake" => &[("sslx handshake backup1 --json", "authenticate with backup1 and print what was agreed")],
        "sslx-pair" => &[
            ("sslx pair --accept", "wait for a peer to pair with (type the string it shows)"),
            ("sslx pair bob", "pair with bob; read him the short string"),
        ],
        "sslx-send" => &[
            ("sslx send reports/ --to bob", "live to bob's sslx recv, or to his mailbox"),
            ("sslx send logs/ --to bob --to carol", "one pass over the data for both"),
            ("tar c /etc | sslx send - --to bob", "a tar stream from stdin"),
            ("sslx send notes.txt --to bob --armor --out notes.txt.sslx", "a text bundle for email"),
        ],
        "sslx-recv" => &[
            ("sslx recv --into 'inbox/%F'", "take transfers, a folder per day"),
            ("sslx recv --once --into .", "one transfer (or what waits in the mailbox), then exit"),
            ("sslx recv --in notes.sslx", "open a bundle file"),
        ],
        "sslx-log" => &[("sslx log --sent --json", "the send log as JSON, queued bundles asked about first")],
        "sslx-token" => &[("sslx token mint --key node1.key --node 1 --field User-ID=fred", "mint a session token")],
        "sslx-token-mint" => &[(
            "sslx token mint --key node1.key --node 1 --field User-ID=fred --url https://b.example.com/in",
            "a token for the node at that URL",
        )],
        "sslx-token-verify" => &[("sslx token verify \"$TOKEN\" --keyring ring", "check a token; Key: Value lines")],
        "sslx-token-resolve" => &[(
            "sslx token resolve \"$TOKEN\" --keyring ring --key node2.key --node 2",
            "verify, then fetch @NODE.ID fields from their node",
        )],
        "sslx-token-serve" => &[(
            "sslx token serve --key node1.key --node 1 --keyring ring --db data.db",
            "answer other nodes' out-of-band requests",
        )],
        "sslx-token-store" => {
            &[("sslx token store --db data.db 'Fred.Telephone=(345) 555-1212'", "store a field's value")]
        }
        "sslx-cds" => &[("sslx-cds serve --dev", "a throw-away CDS for trying things out")],
        "sslx-cds-serve" => &[
            ("sslx-cds serve --dev", "state in a temp dir, email and PINs written as files"),
            ("sslx-cds serve --config /etc/sslx/cds.toml", "as a service, settings in a file"),
            (
                "sslx-cds serve --db postgres://sslx@db.example/sslx?sslmode=require --key-file /etc/sslx/cds.key --mailbox-dir /srv/sslx-mailbox",
                "one of several instances on one PostgreSQL (same key file, shared mailbox)",
            ),
        ],
        "sslx-cds-calls" => {
            &[("sslx-cds calls --db cds.db --since 24h --format csv", "the billing tape of the last day")]
        }
        "sslx-cds-release" => &[("sslx-cds release --db cds.db web1", "free a name whose key was lost")],
        "sslx-cds-migrate" => &[(
            "sslx-cds migrate --db postgres://sslx@db.example/sslx?sslmode=require",
            "bring a shared database to this version before the instances restart",
        )],
        "sslx-gateway" => &[
            ("sslx-gateway --dev --cds 127.0.0.1:7450 --keytab gw1.keytab", "for trying out: a self-signed certificate"),
            (
                "sslx-gateway --listen 0.0.0.0:443 --cds cds.example:7450 --keytab /etc/sslx/gw1.keytab --cert gw.pem --key gw.key",
                "in production",
            ),
            (
                "sslx-gateway --cds cds.example:7450 --keytab gw1.keytab --cert gw.pem --key gw.key --web-key /etc/sslx/web.key",
                "with the web face (copy web.key to every gateway of this name)",
            ),
        ],
        "sslx-login" => &[
            ("sslx login --gateway https://gw.example alice", "asks for the password"),
            (
                "sslx login --gateway https://127.0.0.1:8443 --gateway-fingerprint sha256:… alice",
                "a --dev gateway, its certificate pinned",
            ),
        ],
        "sslx-logout" => &[("sslx logout", "forget the credentials cache")],
        "sslx-exec" => &[
            ("sslx exec web1 -- /usr/bin/id -un", "as the ACL's local user on web1"),
            ("echo hello | sslx exec web1 -- /bin/cat", "stdin reaches the command"),
        ],
        "sslx-execd" => &[
            (
                "sslx-execd --listen 0.0.0.0:7460 --keytab /etc/sslx/web1.keytab --acl /etc/sslx/acl.toml --audit-file /var/log/sslx-execd/audit.jsonl",
                "a managed host, as root; audit lines to /dev/log and the chained file",
            ),
            (
                "sslx-execd --inetd --keytab /etc/sslx/web1.keytab --acl /etc/sslx/acl.toml --syslog udp:logs.example:514",
                "one connection on stdin (contrib/sslx-execd.socket), audit lines to a collector",
            ),
        ],
        "sslx-execd-audit" | "sslx-execd-audit-verify" => &[
            ("sslx-execd audit verify /var/log/sslx-execd/audit.jsonl", "the chain holds, or the first line that breaks it"),
            ("sslx-execd audit verify --json audit.jsonl | jq -r .last_hash", "the hash to match at the syslog collector"),
        ],
        "sslx-cds-principal" | "sslx-cds-principal-add" => &[
            ("sslx-cds principal add --db cds.db alice", "a user; the password is asked for twice"),
            ("SSLX_PASSWORD=… sslx-cds principal add --db cds.db ci-bot", "from a script"),
        ],
        "sslx-cds-principal-passwd" => &[("sslx-cds principal passwd --db cds.db alice", "a new password")],
        "sslx-cds-principal-disable" => {
            &[("sslx-cds principal disable --db cds.db alice", "refused from now on, logins made before too")]
        }
        "sslx-cds-principal-enable" => &[("sslx-cds principal enable --db cds.db alice", "let alice in again")],
        "sslx-cds-principal-del" => &[("sslx-cds principal del --db cds.db web9", "forget a host for good")],
        "sslx-cds-principal-list" => &[("sslx-cds principal list --db cds.db --json", "every principal, for scripts")],
        "sslx-cds-host" | "sslx-cds-host-add" => &[(
            "sslx-cds host add --db cds.db web1 --keytab web1.keytab",
            "a managed host; copy web1.keytab to it for sslx-execd",
        )],
        "sslx-cds-host-rotate" => &[(
            "sslx-cds host rotate --db cds.db web1 --keytab web1.keytab --grace 24h",
            "a new key; the old one works for a day",
        )],
        "sslx-cds-gateway" | "sslx-cds-gateway-add" => &[(
            "sslx-cds gateway add --db cds.db gw1 --keytab gw1.keytab",
            "a gateway; copy gw1.keytab to it for sslx-gateway",
        )],
        "sslx-cds-gateway-rotate" => {
            &[("sslx-cds gateway rotate --db cds.db gw1 --keytab gw1.keytab", "a new key for the gateway")]
        }
        _ => &[],
    }
}
