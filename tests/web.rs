//! The gateway's web face (seed 003, FIGS. 4-7) in a real browser: headless Chromium driven
//! through chromedriver (WebDriver), against a real `sslx-cds` (its KDC), `sslx-gateway` and
//! `sslx-execd` on loopback. Where no browser is installed the test says so and stops, except
//! under CI (`.ci/run` installs Debian's chromium and chromium-driver), where that fails.
//! `SSLX_UPDATE_SCREENSHOTS=1` keeps the login and output pages as docs/web-*.png.

mod common;
use common::*;
use fantoccini::{Client, Locator};
use std::io::BufRead;
use std::path::Path;
use std::time::Duration;

struct Browser {
    client: Client,
    _driver: std::process::Child,
    _profile: tempfile::TempDir,
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self._driver.kill();
        let _ = self._driver.wait();
    }
}

fn tool(name: &str) -> Option<std::path::PathBuf> {
    std::env::var_os("PATH")?.to_str()?.split(':').map(|d| Path::new(d).join(name)).find(|p| p.is_file())
}

/// Headless Chromium through a chromedriver of this test's own (port 0), or None (and why)
/// where none is installed.
async fn browser(javascript: bool) -> Option<Browser> {
    let (Some(driver), Some(chromium)) = (tool("chromedriver"), tool("chromium").or_else(|| tool("chromium-browser")))
    else {
        assert!(std::env::var_os("CI").is_none(), "CI must have chromium and chromedriver (.ci/run installs them)");
        eprintln!("skipped: no chromium and chromedriver here (apt-get install chromium chromium-driver)");
        return None;
    };
    let mut child = std::process::Command::new(driver)
        .arg("--port=0")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let port = loop {
        let line = lines.next().expect("chromedriver said where it listens").unwrap();
        if let Some(p) = line.split("started successfully on port ").nth(1) {
            break p.trim_end_matches('.').trim().to_owned();
        }
    };
    std::thread::spawn(move || for _ in lines {});
    let profile = tempfile::tempdir().unwrap();
    let mut prefs = serde_json::json!({});
    if !javascript {
        prefs = serde_json::json!({"profile.managed_default_content_settings.javascript": 2});
    }
    let caps = serde_json::json!({
        "browserName": "chrome",
        "acceptInsecureCerts": true,
        "goog:chromeOptions": {
            "binary": chromium,
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     format!("--user-data-dir={}", profile.path().display()), "--window-size=1000,1150"],
            "prefs": prefs,
        }
    });
    let caps: serde_json::Map<String, serde_json::Value> = serde_json::from_value(caps).unwrap();
    let client = fantoccini::ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{port}"))
        .await
        .expect("a browser session");
    Some(Browser { client, _driver: child, _profile: profile })
}

/// The local user commands run as: a user made for it when the test is root (sslx-execd then
/// changes to it), else the test's own.
fn acl_user() -> String {
    if unsafe { libc::geteuid() } != 0 {
        let pw = unsafe { libc::getpwuid(libc::geteuid()) };
        return unsafe { std::ffi::CStr::from_ptr((*pw).pw_name) }.to_string_lossy().into_owned();
    }
    let made = std::process::Command::new("useradd")
        .args(["--system", "--no-create-home", "--home-dir", "/nonexistent", "--shell", "/usr/sbin/nologin"])
        .arg("sslx-exec-test")
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(made.success() || made.code() == Some(9));
    "sslx-exec-test".into()
}

struct WebSite {
    _site: KdcSite,
    _host: Daemon,
    gw: Daemon,
    key: std::path::PathBuf,
    keytab: std::path::PathBuf,
    host_at: String,
    user: String,
    cds: String,
}

fn web_site(extra: &[&str]) -> WebSite {
    let site = kdc_site();
    let user = acl_user();
    let acl = site.dir.path().join("acl.toml");
    std::fs::write(
        &acl,
        format!(
            "[[rule]]\nprincipal = \"alice\"\nuser = \"{user}\"\ncommands = [\"/usr/bin/id -un\", \"/bin/sh -c *\"]\n"
        ),
    )
    .unwrap();
    let web1 = site.dir.path().join("web1.keytab");
    let args: Vec<&std::ffi::OsStr> = vec![
        "--listen".as_ref(),
        "127.0.0.1:0".as_ref(),
        "--keytab".as_ref(),
        web1.as_os_str(),
        "--acl".as_ref(),
        acl.as_os_str(),
        "--syslog".as_ref(),
        "none".as_ref(),
    ];
    let host = daemon("sslx-execd", &args);
    let host_at = format!("web1={}", host.at("listen"));
    let key = site.dir.path().join("web.key");
    let keytab = site.dir.path().join("gw1.keytab");
    let mut flags = vec!["--host", &host_at, "--web-key", key.to_str().unwrap()];
    flags.extend(extra);
    let gw = gateway(&site.cds.listen, &keytab, &flags);
    let cds = site.cds.listen.clone();
    WebSite { _site: site, _host: host, gw, key, keytab, host_at, user, cds }
}

impl WebSite {
    /// Another gateway with the same web key (and `env` set for it).
    fn another_gateway(&self, env: &[(&str, &str)]) -> Daemon {
        let base = ["--dev", "--listen", "127.0.0.1:0", "--min-argon2-memory", "64", "--cds", &self.cds];
        let mut c = std::process::Command::new(bin("sslx-gateway"));
        c.args(base).arg("--keytab").arg(&self.keytab).args(["--host", &self.host_at, "--web-key"]).arg(&self.key);
        c.envs(env.iter().copied()).stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::null());
        let cwd = tempfile::tempdir().unwrap();
        let mut child = c.current_dir(cwd.path()).spawn().unwrap();
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        Daemon { child, hello: serde_json::from_str(&line).unwrap(), cwd }
    }
}

async fn text(c: &Client, css: &str) -> String {
    c.wait().at_most(Duration::from_secs(20)).for_element(Locator::Css(css)).await.unwrap().text().await.unwrap()
}

/// Waits until the element's text contains `want`.
async fn text_with(c: &Client, css: &str, want: &str) -> String {
    for _ in 0..200 {
        if let Ok(e) = c.find(Locator::Css(css)).await {
            if let Ok(t) = e.text().await {
                if t.contains(want) {
                    return t;
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{css} never said {want:?}: it says {:?}", text(c, css).await);
}

async fn fill(c: &Client, css: &str, value: &str) {
    let e = c.wait().at_most(Duration::from_secs(20)).for_element(Locator::Css(css)).await.unwrap();
    e.clear().await.unwrap();
    e.send_keys(value).await.unwrap();
}

async fn log_in(c: &Client, url: &str, password: &str) {
    c.goto(url).await.unwrap();
    fill(c, "#user", "alice").await;
    fill(c, "#password", password).await;
    c.find(Locator::Css("#login")).await.unwrap().click().await.unwrap();
}

async fn run(c: &Client, program: &str, args: &str) {
    fill(c, "#program", program).await;
    fill(c, "#args", args).await;
    c.find(Locator::Css("#run")).await.unwrap().click().await.unwrap();
}

fn screenshot(name: &str, png: &[u8]) {
    if std::env::var_os("SSLX_UPDATE_SCREENSHOTS").is_some() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs").join(name);
        std::fs::write(path, png).unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_browser_logs_in_runs_commands_and_logs_out_while_the_gateways_keep_nothing() {
    let Some(b) = browser(true).await else { return };
    let c = &b.client;
    let mut site = web_site(&[]);
    let url = site.gw.at("listen");
    // A wrong password stays on the login form, with why.
    c.goto(&url).await.unwrap();
    text(c, "#login-form").await;
    screenshot("web-login.png", &c.screenshot().await.unwrap());
    log_in(c, &url, "battery staple").await;
    let m = text(c, "#message").await;
    assert!(m.contains("The user name or the password is wrong"), "{m}");
    assert!(c.find(Locator::Css("#login-form")).await.is_ok());
    // The right one, sent from the keyboard (Enter in the password field): the command form;
    // the ACL's local user runs the command.
    c.goto(&url).await.unwrap();
    fill(c, "#user", "alice").await;
    fill(c, "#password", "correct horse\u{E007}").await;
    text(c, "#exec-form").await;
    assert!(text(c, "header").await.contains("alice"));
    run(c, "/usr/bin/id", "-un").await;
    assert_eq!(text_with(c, "#live-end", "exit code 0").await, "exit code 0");
    assert_eq!(text(c, "#live-stdout").await.trim(), site.user);
    // stdout and stderr apart; markup is text.
    run(c, "/bin/sh", "-c\necho '<b>out</b>'; echo oops >&2; exit 3").await;
    assert_eq!(text_with(c, "#live-end", "exit code 3").await, "exit code 3");
    assert_eq!(text(c, "#live-stdout").await.trim(), "<b>out</b>");
    assert_eq!(text(c, "#live-stderr").await.trim(), "oops");
    c.find(Locator::Css("#live")).await.unwrap().click().await.ok();
    screenshot("web-output.png", &c.screenshot().await.unwrap());
    // Denied by the ACL: the ACL's reason, on the command form.
    run(c, "/bin/rm", "-rf\n/tmp/x").await;
    assert!(text_with(c, "#message", "Denied").await.contains("does not let alice run /bin/rm"));
    // The gateway restarted between the login and the next command changes nothing, and two
    // gateways with the same key both serve the browser's session (cookies are the host's,
    // whatever the port).
    let _ = site.gw.child.kill();
    let _ = site.gw.child.wait();
    let restarted = site.another_gateway(&[]);
    let url = restarted.at("listen");
    let second = site.another_gateway(&[]);
    for gw in [&url, &second.at("listen")] {
        c.goto(gw).await.unwrap();
        run(c, "/usr/bin/id", "-un").await;
        assert_eq!(text_with(c, "#live-end", "exit code 0").await, "exit code 0");
    }
    drop(second);
    // A session past its life: back to the login form, with when it ended.
    let later =
        (std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() + 11 * 3600).to_string();
    let late = site.another_gateway(&[("SSLX_TEST_NOW", &later)]);
    c.goto(&late.at("listen")).await.unwrap();
    assert!(text(c, "#message").await.contains("Your session expired at"));
    assert!(c.find(Locator::Css("#login-form")).await.is_ok());
    drop(late);
    // A changed cookie: back to the login form.
    log_in(c, &url, "correct horse").await;
    text(c, "#exec-form").await;
    let cookie = c.get_named_cookie(sslx::gateway::web::SESSION_COOKIE).await.unwrap();
    let v = cookie.value().to_owned();
    let flipped: String = v[..10].to_owned() + if &v[10..11] == "A" { "B" } else { "A" } + &v[11..];
    let mut changed = cookie.clone();
    changed.set_value(flipped);
    c.delete_cookie(sslx::gateway::web::SESSION_COOKIE).await.unwrap();
    c.add_cookie(changed).await.unwrap();
    c.goto(&url).await.unwrap();
    assert!(text(c, "#message").await.contains("could not be read"));
    // A host the KDC does not know, and one whose sslx-execd is down: said on the form.
    log_in(c, &url, "correct horse").await;
    text(c, "#exec-form").await;
    fill(c, "#host", "web9").await;
    run(c, "/usr/bin/id", "-un").await;
    let m = text_with(c, "#message", "No such host").await;
    assert!(m.contains("web9"), "{m}");
    let _ = site._host.child.kill();
    let _ = site._host.child.wait();
    fill(c, "#host", "web1").await;
    run(c, "/usr/bin/id", "-un").await;
    assert!(text_with(c, "#message", "cannot be reached").await.starts_with("web1 or the KDC cannot be reached"));
    // Logout ends it.
    c.wait()
        .at_most(Duration::from_secs(20))
        .for_element(Locator::Css("#logout"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    assert_eq!(text_with(c, "#message", "logged out").await, "You are logged out.");
    c.goto(&url).await.unwrap();
    assert!(c.find(Locator::Css("#login-form")).await.is_ok());
    assert!(c.get_named_cookie(sslx::gateway::web::SESSION_COOKIE).await.is_err());
    // The gateways wrote nothing.
    assert_eq!(std::fs::read_dir(site.gw.cwd.path()).unwrap().count(), 0);
    assert_eq!(std::fs::read_dir(restarted.cwd.path()).unwrap().count(), 0);
    b.client.clone().close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_javascript_the_page_streams_the_output_and_shows_bytes_that_are_not_text_safely() {
    let Some(b) = browser(false).await else { return };
    let c = &b.client;
    let site = web_site(&["--web-max-output", "2000"]);
    let url = site.gw.at("listen");
    log_in(c, &url, "correct horse").await;
    run(c, "/bin/sh", "-c\nprintf 'x<i>\\377y\\n'; echo e >&2").await;
    assert_eq!(text(c, "#end").await, "exit code 0");
    assert_eq!(text(c, "#local-user").await, site.user);
    let shown = text(c, "#output").await;
    assert!(shown.contains("x<i>\u{FFFD}y") && shown.contains('e'), "{shown:?}");
    assert!(text(c, "#notice").await.contains("not UTF-8"));
    c.find(Locator::Css("#again")).await.unwrap().click().await.unwrap();
    run(c, "/bin/sh", "-c\nwhile :; do echo yyyyyyyyyyyyyyyyyyyyyyyyyyyyyy; done").await;
    text_with(c, "#notice", "passed this page's limit of 2000 bytes").await;
    b.client.clone().close().await.unwrap();
}

/// Outside the browser: the headers of every page, and forms posted without their CSRF token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_post_needs_its_csrf_token_and_pages_carry_a_strict_policy() {
    let site = web_site(&[]);
    let url = site.gw.at("listen");
    let http = reqwest::Client::builder().danger_accept_invalid_certs(true).build().unwrap();
    let page = http.get(&url).send().await.unwrap();
    let h = page.headers().clone();
    assert_eq!(h["x-frame-options"], "DENY");
    assert_eq!(h["cache-control"], "no-store");
    let csp = h["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'") && !csp.contains("unsafe"));
    let pre = h["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_owned();
    assert!(h["set-cookie"].to_str().unwrap().contains("HttpOnly; Secure; SameSite=Strict"));
    let html = page.text().await.unwrap();
    assert!(!html.contains("<script>") && !html.contains("onclick"), "nothing inline");
    let csrf = html.split("name=\"csrf\" value=\"").nth(1).unwrap().split('"').next().unwrap().to_owned();
    let post = |path: &str, cookie: String, form: Vec<(&'static str, String)>| {
        http.post(format!("{url}{path}")).header("cookie", cookie).form(&form).send()
    };
    // Login: without the token, with another cookie's, then right.
    let who = || vec![("user", "alice".to_owned()), ("password", "correct horse".to_owned())];
    let r = post("/login", pre.clone(), who()).await.unwrap();
    assert_eq!(r.status(), 403);
    let mut with = who();
    with.push(("csrf", csrf.clone()));
    let r = post("/login", format!("{}=AAAAAAAAAAAAAAAAAAAAAA", sslx::gateway::web::PRE_COOKIE), with.clone())
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let http_noredirect = reqwest::Client::builder()
        .danger_accept_invalid_certs(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let r =
        http_noredirect.post(format!("{url}/login")).header("cookie", pre.clone()).form(&with).send().await.unwrap();
    assert_eq!(r.status(), 303);
    let set = r.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(set.starts_with(sslx::gateway::web::SESSION_COOKIE) && set.contains("HttpOnly; Secure; SameSite=Strict"));
    let session = set.split(';').next().unwrap().to_owned();
    // The command form's token is bound to the session: none, or the login form's, is refused.
    let form = |csrf: Option<String>| {
        let mut f =
            vec![("host", "web1".to_owned()), ("program", "/usr/bin/id".to_owned()), ("args", "-un".to_owned())];
        if let Some(t) = csrf {
            f.push(("csrf", t));
        }
        f
    };
    for bad in [None, Some(csrf.clone())] {
        let r = http_noredirect
            .post(format!("{url}/exec"))
            .header("cookie", session.clone())
            .form(&form(bad))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 403);
    }
    let page = http.get(&url).header("cookie", session.clone()).send().await.unwrap().text().await.unwrap();
    let token = page.split("name=\"csrf\" value=\"").nth(1).unwrap().split('"').next().unwrap().to_owned();
    let r = post("/exec", session.clone(), form(Some(token.clone()))).await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["cache-control"], "no-store", "a page with output is not kept");
    let body = r.text().await.unwrap();
    assert!(body.contains(&format!("<span class=\"stdout\">{}\n</span>", site.user)), "{body}");
    // A bad token on the command form: the form again, with a good token and why.
    let r = post("/exec", session.clone(), form(Some("x".into()))).await.unwrap();
    assert_eq!(r.status(), 403);
    let again = r.text().await.unwrap();
    assert!(again.contains("The form was too old") && again.contains(&format!("value=\"{token}\"")), "{again}");
    // A POST another site makes (Fetch Metadata, or its Origin) is refused, good token and all.
    for (h, v) in [("sec-fetch-site", "cross-site"), ("origin", "https://evil.example")] {
        let r = http
            .post(format!("{url}/exec"))
            .header("cookie", session.clone())
            .header(h, v)
            .form(&form(Some(token.clone())))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 403, "{h}: {v}");
    }
    let r = http_noredirect
        .post(format!("{url}/logout"))
        .header("cookie", session.clone())
        .form(&[("csrf", "x")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403, "logout too needs its token");
    // A command that prints nothing stops when its page is closed (the gateway cuts the host);
    // read to its end, the same command runs through.
    let marks = tempfile::Builder::new().prefix("sslx-web-").tempdir_in("/tmp").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(marks.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let sleeper = |mark: &Path| {
        let mut f = form(Some(token.clone()));
        f[1].1 = "/bin/sh".into();
        f[2].1 = format!("-c\nsleep 4; touch {}", mark.display());
        f
    };
    let (kept, left) = (marks.path().join("kept"), marks.path().join("left"));
    let page = post("/exec", session.clone(), sleeper(&kept)).await.unwrap().text().await.unwrap();
    assert!(page.contains("exit code 0") && kept.exists(), "{page}");
    let r = post("/exec", session.clone(), sleeper(&left)).await.unwrap();
    assert_eq!(r.status(), 200);
    drop(r);
    tokio::time::sleep(Duration::from_secs(6)).await;
    assert!(!left.exists(), "the command ran on after its page was gone");
}
