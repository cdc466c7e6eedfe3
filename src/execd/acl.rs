//! The host's ACL file (seed 003 box 1516): which principal may run which commands, as which
//! local user. TOML:
//!
//! ```toml
//! [[rule]]
//! principal = "alice"          # a user of the KDC
//! user = "alice"               # the local user its commands run as
//! commands = [
//!   "/usr/bin/id",             # this program, with no arguments
//!   "/bin/echo *",             # a lone * last: any further arguments
//!   "/usr/bin/systemctl status sslx-*.service",   # each argument against its glob pattern
//! ]
//! ```
//!
//! A command is allowed when a rule for the principal (and for the user asked for, if one was)
//! has an entry whose program is the command's first argument exactly and whose patterns match
//! the rest, the rules tried in the file's order (put the narrow ones first). In a pattern `*`
//! and `?` match no `/` and no leading `.`, and an argument with a `..` path part matches only a
//! pattern that spells that part out: `/var/log/app/*` does not reach `/etc/shadow` through
//! `/var/log/app/../../etc/shadow`. A shell runs only where an entry names it (`"/bin/sh -c *"`).

use super::msgs::ExecCommand;
use crate::{Error, Result};
use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AclFile {
    #[serde(default)]
    rule: Vec<RuleFile>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleFile {
    principal: String,
    user: String,
    commands: Vec<String>,
}

/// One allowed command: its program and the patterns its arguments must match.
#[derive(Debug, Clone)]
struct Allowed {
    program: String,
    args: Vec<glob::Pattern>,
    /// The patterns end with a lone `*`: any further arguments.
    more: bool,
}

#[derive(Debug, Clone)]
struct Rule {
    principal: String,
    user: String,
    commands: Vec<Allowed>,
}

/// What the ACL says about one command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// It runs as this local user.
    Allowed(String),
    /// Why not.
    Denied(String),
}

#[derive(Debug, Clone)]
pub struct Acl {
    rules: Vec<Rule>,
}

impl Acl {
    pub fn parse(text: &str, what: &str) -> Result<Self> {
        let f: AclFile = toml::from_str(text).map_err(|e| Error::Usage(format!("{what}: {e}")))?;
        let mut rules = Vec::new();
        for (i, r) in f.rule.into_iter().enumerate() {
            let at = |why: String| Error::Usage(format!("{what}: rule {}: {why}", i + 1));
            crate::keys::check_name(&r.principal).map_err(|e| at(e.to_string()))?;
            if r.user.is_empty()
                || r.user.len() > 32
                || !r.user.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
            {
                return Err(at(format!("{:?} is not a local user name", r.user)));
            }
            let mut commands = Vec::new();
            for c in &r.commands {
                let mut words = c.split_whitespace();
                let program = words.next().ok_or_else(|| at("an empty command".into()))?.to_owned();
                if !program.starts_with('/') {
                    return Err(at(format!("{program:?}: a program is named by its absolute path")));
                }
                let mut words: Vec<&str> = words.collect();
                let more = words.last() == Some(&"*");
                if more {
                    words.pop();
                }
                let args = words
                    .iter()
                    .map(|w| glob::Pattern::new(w).map_err(|e| at(format!("{w:?}: {e}"))))
                    .collect::<Result<_>>()?;
                commands.push(Allowed { program, args, more });
            }
            rules.push(Rule { principal: r.principal, user: r.user, commands });
        }
        Ok(Acl { rules })
    }

    pub fn load(path: &std::path::Path) -> Result<Self> {
        let text =
            std::fs::read_to_string(path).map_err(|e| Error::io(format!("reading the ACL {}", path.display()), e))?;
        Self::parse(&text, &path.display().to_string())
    }

    /// Whether `principal` may run `cmd`, and as whom.
    pub fn decide(&self, principal: &str, cmd: &ExecCommand) -> Decision {
        let rules: Vec<&Rule> = self
            .rules
            .iter()
            .filter(|r| r.principal == principal && (cmd.as_user.is_empty() || r.user == cmd.as_user))
            .collect();
        if rules.is_empty() {
            return Decision::Denied(if cmd.as_user.is_empty() {
                format!("no rule of this host's ACL lets {principal} run commands here")
            } else {
                format!("no rule of this host's ACL lets {principal} run commands as {}", cmd.as_user)
            });
        }
        let (program, args) = (&cmd.argv[0], &cmd.argv[1..]);
        let options = glob::MatchOptions {
            case_sensitive: true,
            require_literal_separator: true,
            require_literal_leading_dot: true,
        };
        let matches = |p: &glob::Pattern, v: &str| {
            let dotdot = v.split('/').any(|part| part == "..");
            p.matches_with(v, options) && (!dotdot || p.as_str().split('/').any(|part| part == ".."))
        };
        let mut named = false;
        for r in &rules {
            for a in r.commands.iter().filter(|a| &a.program == program) {
                named = true;
                let fits = args.len() >= a.args.len()
                    && (a.more || args.len() == a.args.len())
                    && a.args.iter().zip(args).all(|(p, v)| matches(p, v));
                if fits {
                    return Decision::Allowed(r.user.clone());
                }
            }
        }
        Decision::Denied(if named {
            format!("the arguments do not match what this host's ACL allows {principal} to give {program}")
        } else {
            format!("this host's ACL does not let {principal} run {program}")
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmd(argv: &[&str]) -> ExecCommand {
        ExecCommand { as_user: String::new(), argv: argv.iter().map(|s| (*s).to_owned()).collect() }
    }

    #[test]
    fn commands_arguments_and_users_are_checked_against_the_rules() {
        let acl = Acl::parse(
            r#"
[[rule]]
principal = "alice"
user = "ops"
commands = ["/usr/bin/id", "/bin/echo *", "/usr/bin/systemctl status sslx-*.service", "/bin/cat /var/log/app/*"]
[[rule]]
principal = "alice"
user = "backup"
commands = ["/usr/bin/tar -c *"]
"#,
            "acl",
        )
        .unwrap();
        let ok = |argv: &[&str]| acl.decide("alice", &cmd(argv));
        assert_eq!(ok(&["/usr/bin/id"]), Decision::Allowed("ops".into()));
        assert!(matches!(ok(&["/usr/bin/id", "-u"]), Decision::Denied(r) if r.contains("arguments do not match")));
        assert_eq!(ok(&["/bin/echo"]), Decision::Allowed("ops".into()));
        assert_eq!(ok(&["/bin/echo", "a", "b"]), Decision::Allowed("ops".into()));
        assert_eq!(ok(&["/usr/bin/systemctl", "status", "sslx-cds.service"]), Decision::Allowed("ops".into()));
        assert!(matches!(ok(&["/usr/bin/systemctl", "stop", "sslx-cds.service"]), Decision::Denied(_)));
        assert_eq!(ok(&["/usr/bin/tar", "-c", "/srv"]), Decision::Allowed("backup".into()));
        assert_eq!(ok(&["/bin/cat", "/var/log/app/x.log"]), Decision::Allowed("ops".into()));
        for escape in
            ["/var/log/app/../../../etc/shadow", "/var/log/app/a/b", "/var/log/app/.hidden", "/var/log/app/.."]
        {
            assert!(matches!(ok(&["/bin/cat", escape]), Decision::Denied(_)), "{escape}");
        }
        assert!(
            matches!(ok(&["/bin/sh", "-c", "id"]), Decision::Denied(r) if r.contains("does not let alice run /bin/sh"))
        );
        assert!(matches!(acl.decide("bob", &cmd(&["/usr/bin/id"])), Decision::Denied(r) if r.contains("no rule")));
        let as_backup = ExecCommand { as_user: "backup".into(), argv: vec!["/usr/bin/id".into()] };
        assert!(matches!(acl.decide("alice", &as_backup), Decision::Denied(_)), "id is allowed as ops only");
        for bad in [
            "[[rule]]\nprincipal = \"a\"\nuser = \"u\"\ncommands = [\"id\"]",
            "[[rule]]\nprincipal = \"a\"\nuser = \"u\"\ncommands = []\nother = 1",
            "rule = 3",
        ] {
            assert!(Acl::parse(bad, "acl").is_err(), "{bad}");
        }
    }
}
