//! Man pages (`man/`) and shell completions (`completions/`) are generated from the clap
//! definitions; this test fails when the checked-in ones are stale.
//! Regenerate with: `SSLX_UPDATE_DOCS=1 cargo test --test docs`.

use clap::CommandFactory;
use std::path::{Path, PathBuf};

/// Every command and subcommand at every level, with its page name (`sslx-token-mint`).
fn pages(cmd: &clap::Command, name: &str, out: &mut Vec<(String, clap::Command)>) {
    let leaked: &'static str = Box::leak(name.to_owned().into_boxed_str());
    out.push((name.to_owned(), cmd.clone().name(leaked)));
    for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
        pages(sub, &format!("{name}-{}", sub.get_name()), out);
    }
}

fn all_pages() -> Vec<(String, clap::Command)> {
    let mut out = Vec::new();
    // No `help` subcommand: there is no page for it, and none may be referred to.
    for cmd in [
        sslx::cli::args::SslxCli::command(),
        sslx::cli::args::CdsCli::command(),
        sslx::cli::args::GatewayCli::command(),
        sslx::cli::args::ExecdCli::command(),
    ] {
        let cmd = cmd.disable_help_subcommand(true);
        let name = cmd.get_name().to_owned();
        pages(&cmd, &name, &mut out);
    }
    out
}

/// Text as roff: backslashes and hyphens escaped, no line taken for a request.
fn roff(text: &str) -> String {
    text.lines()
        .map(|l| {
            let l = l.replace('\\', "\\e").replace('-', "\\-");
            if l.starts_with('.') || l.starts_with('\'') {
                format!("\\&{l}")
            } else {
                l
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// A `.TP` list: a bold term, then its text.
fn list(items: &[(String, String)]) -> String {
    items.iter().map(|(t, d)| format!(".TP\n\\fB{}\\fR\n{}\n", roff(t), roff(d))).collect()
}

const EXIT_STATUS: &[(&str, &str)] = &[
    ("0", "ok"),
    ("1", "failure: anything not below (a file that cannot be written, a full disk)"),
    ("2", "usage: the command line is wrong (a flag missing, a prompt without a terminal)"),
    (
        "3",
        "verification failed: a MAC, signature, proof or checksum; a denied PIN; a stream or bundle cut off or altered",
    ),
    ("4", "expired, or the clocks disagree (both are printed)"),
    ("5", "refused: by the CDS or a peer (its reason is printed), or a name that exists where files are received"),
    ("6", "not found: no identity in the home, not enrolled, not paired, a file or request that is not there"),
    ("7", "unavailable: the CDS or the peer cannot be reached, or is not listening"),
    ("8", "malformed input (tokens)"),
    ("9", "not for this node (tokens)"),
    ("130", "interrupted (Ctrl-C)"),
];

const HOME_FILES: &[(&str, &str)] = &[
    (
        "$SSLX_HOME/identity.key",
        "this machine's identity (X25519 and Ed25519 secret keys), 0600; identity.pub its public line",
    ),
    ("$SSLX_HOME/cdsk", "the confirmed CDS key, 0600; cds.json: where the CDS is"),
    ("$SSLX_HOME/pairs/PEER.key", "the pair key shared with PEER (sslx pair), 0600"),
    ("$SSLX_HOME/courier.db", "the send and receive logs, and the bundles opened (a replay is refused)"),
    ("$SSLX_HOME/sessions.db", "cached sessions and the listeners met at an address"),
    (
        "$SSLX_HOME/sslx.toml",
        "settings for sslx recv ([recv]: into, on-conflict, exec-after, max-transfers); flags win",
    ),
];

const CDS_FILES: &[(&str, &str)] = &[
    ("sslx-cds.db (--db)", "the CDS's state (SQLite): participants, requests, calls, mailbox index"),
    ("DB.key (--key-file)", "the key that seals the CDS keys in the database, 0600, kept apart from it"),
    (
        "--outbox DIR, --oob-dir DIR",
        "with --dev: reply B emails (RID.reply-b.eml) and PINs (RID.txt), named by request id",
    ),
    ("--config FILE", "serve's flags as TOML (see contrib/cds.toml); flags given win"),
];

/// What every page has after clap's sections: exit status, environment, files, examples and
/// the pages to see (only pages that exist).
fn sections(name: &str, cmd: &clap::Command, all: &[String]) -> String {
    let mut out = format!(
        ".SH \"EXIT STATUS\"\n{}",
        list(&EXIT_STATUS.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect::<Vec<_>>())
    );
    if name == "sslx-dial" {
        out.push_str(&format!(
            ".PP\n{}\n",
            roff("To a listen --exec: the remote command's status (128 + N for signal N), as ssh does.")
        ));
    }
    let cds = name.starts_with("sslx-cds");
    let mut env: Vec<(String, String)> = Vec::new();
    if !cds {
        for (v, d) in [
            ("SSLX_HOME", "the sslx home (--home); default $XDG_CONFIG_HOME/sslx"),
            ("SSLX_CDS", "the CDS protocol address (--cds), default the one remembered at enrollment"),
            ("SSLX_CDS_HTTP", "the CDS's public HTTP address (--cds-http)"),
        ] {
            env.push((v.into(), d.into()));
        }
    }
    for a in cmd.get_arguments() {
        if let Some(v) = a.get_env().and_then(|v| v.to_str()) {
            if !env.iter().any(|(e, _)| e == v) {
                env.push((v.into(), format!("as --{}", a.get_long().unwrap_or_default())));
            }
        }
    }
    if !env.is_empty() {
        out.push_str(&format!(".SH ENVIRONMENT\n{}", list(&env)));
    }
    let files = if cds { CDS_FILES } else { HOME_FILES };
    out.push_str(&format!(
        ".SH FILES\n{}",
        list(&files.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect::<Vec<_>>())
    ));
    let ex = sslx::cli::args::examples(name);
    assert!(!ex.is_empty(), "no EXAMPLES for {name}: add them to sslx::cli::args::examples");
    out.push_str(".SH EXAMPLES\n");
    for (line, what) in ex {
        out.push_str(&format!(".TP\n\\fB{}\\fR\n{}\n", roff(line), roff(what)));
    }
    let mut see: Vec<&str> = vec!["sslx", "sslx-cds"];
    if let Some((parent, _)) = name.rsplit_once('-') {
        see.push(parent);
    }
    let see: Vec<String> = see
        .into_iter()
        .filter(|p| *p != name && all.iter().any(|a| a == p))
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .map(|p| format!("\\fB{}\\fR(1)", roff(p)))
        .collect();
    out.push_str(&format!(".SH \"SEE ALSO\"\n{}\n", see.join(", ")));
    out
}

/// `sslx send --to` completes the peers this home is paired with (`sslx --json pairs`): clap's
/// scripts complete files there, so the `--to` case of `send` is replaced in each.
fn complete_peers(shell: clap_complete::Shell, text: String) -> String {
    let replace_once = |text: &str, after: &str, from: &str, to: &str| -> String {
        let at = text.find(after).unwrap_or_else(|| panic!("no {after:?} in the {shell} completion"));
        let rel = text[at..].find(from).unwrap_or_else(|| panic!("no {from:?} after {after:?} ({shell})"));
        format!("{}{}{}", &text[..at + rel], to, &text[at + rel + from.len()..])
    };
    match shell {
        clap_complete::Shell::Bash => {
            let text = replace_once(
                &text,
                "        sslx__subcmd__send)",
                "                --to)\n                    COMPREPLY=($(compgen -f \"${cur}\"))",
                "                --to)\n                    COMPREPLY=($(compgen -W \"$(_sslx_peers)\" -- \"${cur}\"))",
            );
            format!(
                "# The peers this home is paired with (for send --to).\n_sslx_peers() {{\n    sslx --json pairs 2>/dev/null | grep -o '\"peer\":\"[^\"]*\"' | cut -d'\"' -f4\n}}\n\n{text}"
            )
        }
        clap_complete::Shell::Zsh => {
            let text = replace_once(&text, "'*--to=[The paired peer", ":PEER:_default'", ":PEER:_sslx_peers'");
            text.replacen(
                "#compdef sslx\n",
                "#compdef sslx\n\n# The peers this home is paired with (for send --to).\n_sslx_peers() {\n    local -a peers\n    peers=(${(f)\"$(sslx --json pairs 2>/dev/null | grep -o '\"peer\":\"[^\"]*\"' | cut -d'\"' -f4)\"})\n    compadd -a peers\n}\n",
                1,
            )
        }
        clap_complete::Shell::Fish => {
            let text = replace_once(
                &text,
                "complete -c sslx -n \"__fish_sslx_using_subcommand send\" -l to -d",
                "' -r\n",
                "' -r -f -a \"(__sslx_peers)\"\n",
            );
            format!(
                "# The peers this home is paired with (for send --to).\nfunction __sslx_peers\n    sslx --json pairs 2>/dev/null | string match -r -g -a '\"peer\":\"([^\"]+)\"'\nend\n\n{text}"
            )
        }
        _ => text,
    }
}

fn generated() -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let pages = all_pages();
    let names: Vec<String> = pages.iter().map(|(n, _)| n.clone()).collect();
    for (name, cmd) in pages {
        let mut page = Vec::new();
        clap_mangen::Man::new(cmd.clone()).render(&mut page).unwrap();
        page.extend_from_slice(sections(&name, &cmd, &names).as_bytes());
        out.push((PathBuf::from(format!("man/{name}.1")), page));
    }
    for cmd in [
        sslx::cli::args::SslxCli::command(),
        sslx::cli::args::CdsCli::command(),
        sslx::cli::args::GatewayCli::command(),
        sslx::cli::args::ExecdCli::command(),
    ] {
        let name = cmd.get_name().to_owned();
        for (shell, file) in [
            (clap_complete::Shell::Bash, format!("completions/{name}.bash")),
            (clap_complete::Shell::Zsh, format!("completions/_{name}")),
            (clap_complete::Shell::Fish, format!("completions/{name}.fish")),
        ] {
            let mut buf = Vec::new();
            clap_complete::generate(shell, &mut cmd.clone(), name.clone(), &mut buf);
            if name == "sslx" {
                buf = complete_peers(shell, String::from_utf8(buf).unwrap()).into_bytes();
            }
            out.push((PathBuf::from(file), buf));
        }
    }
    out
}

#[test]
fn man_pages_and_completions_are_current() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let update = std::env::var_os("SSLX_UPDATE_DOCS").is_some();
    let mut stale = Vec::new();
    for (rel, bytes) in generated() {
        let path = root.join(&rel);
        if update {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, &bytes).unwrap();
        } else if std::fs::read(&path).ok().as_deref() != Some(&bytes[..]) {
            stale.push(rel.display().to_string());
        }
    }
    // Nothing in man/ or completions/ that no command generates (a renamed or removed command).
    let wanted: std::collections::BTreeSet<PathBuf> = generated().into_iter().map(|(p, _)| p).collect();
    let mut orphans = Vec::new();
    for d in ["man", "completions"] {
        for e in std::fs::read_dir(root.join(d)).unwrap() {
            let rel = Path::new(d).join(e.unwrap().file_name());
            if !wanted.contains(&rel) {
                if update {
                    std::fs::remove_file(root.join(&rel)).unwrap();
                } else {
                    orphans.push(rel.display().to_string());
                }
            }
        }
    }
    assert!(
        stale.is_empty() && orphans.is_empty(),
        "stale or missing: {stale:?}; generated by no command: {orphans:?}\nregenerate with: SSLX_UPDATE_DOCS=1 cargo test --test docs"
    );
}

#[test]
fn every_help_page_renders_and_documents_exit_codes() {
    let mut missing = Vec::new();
    for (name, mut cmd) in all_pages() {
        let help = cmd.render_long_help().to_string();
        if !help.contains("Exit status") {
            missing.push(name);
        }
    }
    assert!(missing.is_empty(), "pages without an 'Exit status' paragraph: {missing:?}");
}

/// clap's own consistency checks (duplicate names, conflicting flags) on every subcommand: they
/// otherwise run only when a subcommand is first used, in debug builds.
#[test]
fn every_command_definition_is_consistent() {
    use clap::CommandFactory;
    sslx::cli::args::SslxCli::command().debug_assert();
    sslx::cli::args::CdsCli::command().debug_assert();
    sslx::cli::args::GatewayCli::command().debug_assert();
    sslx::cli::args::ExecdCli::command().debug_assert();
}
