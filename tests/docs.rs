//! Man pages (`man/`) and shell completions (`completions/`) are generated from the clap
//! definitions; this test fails when the checked-in ones are stale.
//! Regenerate with: `SSLX_UPDATE_DOCS=1 cargo test --test docs`.

use clap::CommandFactory;
use std::path::{Path, PathBuf};

fn generated() -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    for cmd in [sslx::cli::args::SslxCli::command(), sslx::cli::args::CdsCli::command()] {
        let name = cmd.get_name().to_owned();
        let mut page = Vec::new();
        clap_mangen::Man::new(cmd.clone()).render(&mut page).unwrap();
        out.push((PathBuf::from(format!("man/{name}.1")), page));
        for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
            let sub_name = format!("{name}-{}", sub.get_name());
            let mut page = Vec::new();
            let leaked: &'static str = Box::leak(sub_name.clone().into_boxed_str());
            clap_mangen::Man::new(sub.clone().name(leaked)).render(&mut page).unwrap();
            out.push((PathBuf::from(format!("man/{sub_name}.1")), page));
        }
        for (shell, file) in [
            (clap_complete::Shell::Bash, format!("completions/{name}.bash")),
            (clap_complete::Shell::Zsh, format!("completions/_{name}")),
            (clap_complete::Shell::Fish, format!("completions/{name}.fish")),
        ] {
            let mut buf = Vec::new();
            clap_complete::generate(shell, &mut cmd.clone(), name.clone(), &mut buf);
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
    assert!(
        stale.is_empty(),
        "stale or missing: {stale:?}\nregenerate with: SSLX_UPDATE_DOCS=1 cargo test --test docs"
    );
}

#[test]
fn every_help_page_renders_and_documents_exit_codes() {
    for cmd in [sslx::cli::args::SslxCli::command(), sslx::cli::args::CdsCli::command()] {
        cmd.clone().debug_assert();
        let help = cmd.clone().render_long_help().to_string();
        assert!(help.contains("Exit status"), "{help}");
    }
}

/// clap's own consistency checks (duplicate names, conflicting flags) on every subcommand: they
/// otherwise run only when a subcommand is first used, in debug builds.
#[test]
fn every_command_definition_is_consistent() {
    use clap::CommandFactory;
    sslx::cli::args::SslxCli::command().debug_assert();
    sslx::cli::args::CdsCli::command().debug_assert();
}
