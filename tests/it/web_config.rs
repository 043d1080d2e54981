//! `--web.config.file` (README, Security): TLS with
//! certificates made at test time, client certificates, bcrypt basic auth,
//! response headers, refusal of bad files at start (exit 2, one line), and
//! reloading on change (a new password, a rotated certificate) for new
//! connections, without a restart.

use std::path::Path;
use std::time::{Duration, SystemTime};

use crate::support::files::set_mtime;
use crate::support::process;
use crate::support::tls::{Ca, Leaf};
use crate::support::*;

// ---------------------------------------------------------------- helpers

fn mtime(path: &Path) -> SystemTime {
    std::fs::metadata(path)
        .and_then(|m| m.modified())
        .expect("read the file's mtime")
}

/// A client that trusts only `ca_pem`, presents `identity` if given, and
/// opens a new connection for every request (so reloads are seen).
fn tls_client(ca_pem: &str, identity: Option<&Leaf>) -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let ca = reqwest::Certificate::from_pem(ca_pem.as_bytes()).expect("the CA parses");
    let mut builder = reqwest::Client::builder()
        .no_proxy()
        .tls_certs_only([ca])
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(10));
    if let Some(leaf) = identity {
        let pem = format!("{}{}", leaf.cert, leaf.key);
        builder = builder.identity(reqwest::Identity::from_pem(pem.as_bytes()).expect("identity"));
    }
    builder.build().expect("the TLS client builds")
}

fn https_url(exporter: &Exporter, path: &str) -> String {
    format!("https://127.0.0.1:{}{path}", exporter.address().port())
}

async fn exporter_with_web_config(api: &FakeApi, config: &Path) -> Exporter {
    let config = config.to_str().expect("UTF-8 temp path");
    Exporter::for_api(&api.url(), &["--web.config.file", config]).await
}

/// An exporter whose web config (`web.yml` in the directory returned, for
/// rewriting it) lets user `prometheus` in with `password`, and its
/// upstream.
async fn exporter_with_password(tag: &str, password: &str) -> (FakeApi, TempDir, Exporter) {
    let api = spec_example_api().await;
    let dir = TempDir::new(tag);
    let config = dir.write("web.yml", &basic_auth_config("prometheus", password));
    let exporter = exporter_with_web_config(&api, &config).await;
    (api, dir, exporter)
}

/// `GET /metrics` as user `prometheus` with `password`, on a new
/// connection.
fn as_prometheus(exporter: &Exporter, password: &str) -> reqwest::RequestBuilder {
    http_client()
        .get(format!("{}/metrics", exporter.url()))
        .basic_auth("prometheus", Some(password))
}

/// Writes server.crt/server.key (and ca.crt) for `ca` into `dir`.
fn write_server_files(dir: &TempDir, ca: &Ca) {
    let server = ca.server();
    dir.write("server.crt", &server.cert);
    dir.write("server.key", &server.key);
    dir.write("ca.crt", &ca.pem());
}

const TLS_CONFIG: &str = "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n";

/// An exporter serving TLS with a certificate signed by `ca` (and whatever
/// `more_config` adds to the web config), its upstream, and the directory
/// holding its files (for rewriting them).
async fn tls_exporter(name: &str, ca: &Ca, more_config: &str) -> (FakeApi, TempDir, Exporter) {
    let api = spec_example_api().await;
    let dir = TempDir::new(name);
    write_server_files(&dir, ca);
    let config = dir.write("web.yml", &format!("{TLS_CONFIG}{more_config}"));
    let exporter = exporter_with_web_config(&api, &config).await;
    (api, dir, exporter)
}

fn basic_auth_config(user: &str, password: &str) -> String {
    let hash = bcrypt::hash(password, 4).expect("bcrypt");
    format!("basic_auth_users:\n  {user}: '{hash}'\n")
}

/// Asks again (each time on a new connection) until the answer is
/// `expected`: the web config file is checked in the background, every 50 ms
/// in these tests (every second by default). Returns the last answer.
async fn settles_on<F>(expected: Result<u16, String>, mut request: F) -> Result<u16, String>
where
    F: FnMut() -> reqwest::RequestBuilder,
{
    let last = poll(Duration::from_secs(10), async || {
        let got = status_of(request()).await;
        if got == expected { Ok(got) } else { Err(got) }
    })
    .await;
    last.unwrap_or_else(|got| got)
}

/// Status of a request, or the error text when there is no answer.
async fn status_of(request: reqwest::RequestBuilder) -> Result<u16, String> {
    match request.send().await {
        Ok(response) => Ok(response.status().as_u16()),
        Err(error) => Err(format!("{error:?}")),
    }
}

// ------------------------------------------------------------------ TLS

#[tokio::test]
async fn tls_serves_metrics_to_a_client_that_trusts_the_ca() {
    let ca = Ca::new("test CA");
    let (_api, _dir, exporter) = tls_exporter("tls", &ca, "").await;

    let response = tls_client(&ca.pem(), None)
        .get(https_url(&exporter, "/metrics"))
        .send()
        .await
        .unwrap_or_else(|e| panic!("TLS scrape failed: {e:?}\n{}", exporter.logs().tail(20)));
    assert_eq!(response.status().as_u16(), 200);
    let body = response.text().await.expect("the body is read");
    assert_eq!(up(&body), 1.0, "{body}");

    let plain = status_of(http_client().get(format!("{}/metrics", exporter.url()))).await;
    assert!(
        !matches!(plain, Ok(200)),
        "plain HTTP on the TLS port must not be served: {plain:?}"
    );
    let https = tls_client(&ca.pem(), None);
    let health = status_of(https.get(https_url(&exporter, "/-/healthy"))).await;
    assert_eq!(health, Ok(200), "{}", exporter.logs().tail(20));
}

#[tokio::test]
async fn tls_is_refused_by_a_client_that_does_not_trust_the_ca() {
    let ca = Ca::new("test CA");
    let (_api, _dir, exporter) = tls_exporter("untrusted", &ca, "").await;

    let other_ca = Ca::new("someone else's CA");
    let result =
        status_of(tls_client(&other_ca.pem(), None).get(https_url(&exporter, "/metrics"))).await;
    assert!(
        result.is_err(),
        "a client trusting another CA got {result:?}"
    );
}

#[tokio::test]
async fn mtls_requires_a_client_certificate_signed_by_the_client_ca() {
    let ca = Ca::new("test CA");
    let mtls = "  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: ca.crt\n";
    let (_api, _dir, exporter) = tls_exporter("mtls", &ca, mtls).await;
    let url = https_url(&exporter, "/metrics");

    let without = status_of(tls_client(&ca.pem(), None).get(&url)).await;
    assert!(
        without.is_err(),
        "a client without a certificate got {without:?}"
    );

    let stranger = Ca::new("untrusted client CA").client();
    let foreign = status_of(tls_client(&ca.pem(), Some(&stranger)).get(&url)).await;
    assert!(
        foreign.is_err(),
        "a client certificate from another CA got {foreign:?}"
    );

    let response = tls_client(&ca.pem(), Some(&ca.client()))
        .get(&url)
        .send()
        .await
        .unwrap_or_else(|e| panic!("mTLS scrape failed: {e:?}\n{}", exporter.logs().tail(20)));
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(up(&response.text().await.expect("body")), 1.0);
}

// ------------------------------------------------------------ basic auth

#[tokio::test]
async fn basic_auth_admits_the_right_password_only_and_leaves_health_open() {
    let (api, _dir, exporter) = exporter_with_password("auth", "s3cret").await;
    let client = http_client();
    let metrics = format!("{}/metrics", exporter.url());

    let right = as_prometheus(&exporter, "s3cret")
        .send()
        .await
        .expect("answered");
    assert_eq!(right.status().as_u16(), 200);
    assert_eq!(up(&right.text().await.expect("body")), 1.0);

    let wrong_password = exporter
        .send(client.get(&metrics).basic_auth("prometheus", Some("guess")))
        .await;
    let wrong_user = exporter
        .send(client.get(&metrics).basic_auth("root", Some("s3cret")))
        .await;
    let missing = exporter.send(client.get(&metrics)).await;
    for (what, reply) in [
        ("a wrong password", &wrong_password),
        ("an unknown user", &wrong_user),
        ("no credentials", &missing),
    ] {
        assert_eq!(reply.status, 401, "{what}: {}", reply.text());
        let challenge = reply.header("www-authenticate").unwrap_or_default();
        assert!(
            challenge.starts_with("Basic"),
            "{what}: WWW-Authenticate is {challenge:?}"
        );
        assert!(!reply.text().contains("agi_up"), "{what} leaked metrics");
    }
    assert_eq!(
        (
            wrong_password.text(),
            wrong_password.header("www-authenticate")
        ),
        (wrong_user.text(), wrong_user.header("www-authenticate")),
        "a wrong user and a wrong password must look the same"
    );
    assert_eq!(
        api.requests(),
        1,
        "only the admitted scrape reached the API"
    );

    for path in ["/-/healthy", "/-/ready"] {
        let reply = exporter
            .send(client.get(format!("{}{path}", exporter.url())))
            .await;
        assert_eq!(reply.status, 200, "{path} must not need credentials");
    }
    exporter.assert_healthy().await;
}

#[tokio::test]
async fn configured_headers_are_on_every_response() {
    let api = spec_example_api().await;
    let dir = TempDir::new("headers");
    let config = dir.write(
        "web.yml",
        &format!(
            "http_server_config:\n  headers:\n    X-Frame-Options: deny\n    X-Content-Type-Options: nosniff\n    Content-Security-Policy: \"default-src 'none'\"\n{}",
            basic_auth_config("prometheus", "s3cret")
        ),
    );
    let exporter = exporter_with_web_config(&api, &config).await;
    let client = http_client();
    let url = |path: &str| format!("{}{path}", exporter.url());

    let replies = [
        (
            "/metrics",
            exporter
                .send(
                    client
                        .get(url("/metrics"))
                        .basic_auth("prometheus", Some("s3cret")),
                )
                .await,
        ),
        (
            "/-/healthy",
            exporter.send(client.get(url("/-/healthy"))).await,
        ),
        (
            "a 404",
            exporter
                .send(
                    client
                        .get(url("/nope"))
                        .basic_auth("prometheus", Some("s3cret")),
                )
                .await,
        ),
        ("a 401", exporter.send(client.get(url("/metrics"))).await),
    ];
    for (what, reply) in &replies {
        assert_eq!(reply.header("x-frame-options"), Some("deny"), "{what}");
        assert_eq!(
            reply.header("x-content-type-options"),
            Some("nosniff"),
            "{what}"
        );
        assert_eq!(
            reply.header("content-security-policy"),
            Some("default-src 'none'"),
            "{what}"
        );
    }
    assert_eq!(replies[0].1.status, 200);
    assert_eq!(replies[2].1.status, 404);
    assert_eq!(replies[3].1.status, 401);
}

// -------------------------------------------------------------- bad files

async fn assert_refused_at_start(config: &str, expected: &[&str], secret: Option<&str>) {
    let dir = TempDir::new("bad");
    let path = dir.write("web.yml", config);
    let finished = process::run(
        &[
            "--web.listen-address",
            "127.0.0.1:0",
            "--api.url",
            &closed_port_url(),
            "--web.config.file",
            path.to_str().expect("UTF-8 temp path"),
        ],
        &[("AGI_API_KEY", KEY)],
    )
    .await;
    let stderr = finished.stderr.trim();
    assert_eq!(
        finished.code(),
        Some(2),
        "{config:?} must be refused with exit code 2; stderr:\n{stderr}"
    );
    assert_eq!(
        stderr.lines().count(),
        1,
        "{config:?}: one line on stderr, got:\n{stderr}"
    );
    for word in expected {
        assert!(
            stderr.contains(word),
            "{config:?}: the line must name {word:?}: {stderr}"
        );
    }
    if let Some(secret) = secret {
        assert!(
            !stderr.contains(secret),
            "the error echoes the password: {stderr}"
        );
    }
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[tokio::test]
async fn a_web_config_that_is_not_yaml_exits_2_with_one_line() {
    assert_refused_at_start("tls_server_config: [\n  : :\n", &["web.yml"], None).await;
}

#[tokio::test]
async fn a_web_config_with_an_unknown_key_exits_2_naming_the_key() {
    assert_refused_at_start(
        "tls_server_confg:\n  cert_file: a.crt\n",
        &["tls_server_confg"],
        None,
    )
    .await;
}

#[tokio::test]
async fn a_web_config_naming_a_missing_certificate_exits_2_naming_the_file() {
    assert_refused_at_start(
        "tls_server_config:\n  cert_file: missing.crt\n  key_file: missing.key\n",
        &["missing.crt"],
        None,
    )
    .await;
}

#[tokio::test]
async fn a_plaintext_password_exits_2_without_echoing_it() {
    assert_refused_at_start(
        "basic_auth_users:\n  prometheus: hunter2-plaintext\n",
        &["prometheus", "bcrypt"],
        Some("hunter2-plaintext"),
    )
    .await;
}

#[tokio::test]
async fn client_auth_without_a_client_ca_exits_2() {
    let dir = TempDir::new("noca");
    let ca = Ca::new("test CA");
    write_server_files(&dir, &ca);
    // The certificate files exist next to this config; only the CA is missing.
    let config = format!(
        "tls_server_config:\n  cert_file: {}\n  key_file: {}\n  client_auth_type: RequireAndVerifyClientCert\n",
        dir.file("server.crt").display(),
        dir.file("server.key").display()
    );
    assert_refused_at_start(&config, &["client_ca_file"], None).await;
}

#[tokio::test]
async fn a_missing_web_config_file_exits_2() {
    let finished = process::run(
        &[
            "--web.listen-address",
            "127.0.0.1:0",
            "--api.url",
            &closed_port_url(),
            "--web.config.file",
            "/nonexistent/agi-exporter/web.yml",
        ],
        &[("AGI_API_KEY", KEY)],
    )
    .await;
    assert_eq!(finished.code(), Some(2), "{}", finished.stderr);
    assert_eq!(
        finished.stderr.trim().lines().count(),
        1,
        "{}",
        finished.stderr
    );
    assert!(finished.stderr.contains("web.yml"), "{}", finished.stderr);
}

// ---------------------------------------------------------------- reload

#[tokio::test]
async fn a_new_password_applies_to_new_connections_without_a_restart() {
    let (_api, dir, exporter) = exporter_with_password("reload-auth", "old-password").await;
    let with = |password| as_prometheus(&exporter, password);
    assert_eq!(status_of(with("old-password")).await, Ok(200));

    dir.write("web.yml", &basic_auth_config("prometheus", "new-password"));

    assert_eq!(
        settles_on(Ok(200), || with("new-password")).await,
        Ok(200),
        "the new password must work on a new connection\n{}",
        exporter.logs().tail(10)
    );
    assert_eq!(
        status_of(with("old-password")).await,
        Ok(401),
        "the old password must stop working"
    );
    exporter.assert_healthy().await;
}

#[tokio::test]
async fn a_rewrite_is_picked_up_even_when_the_mtime_does_not_move() {
    // Two writes within one tick of the file system's clock (or a copy that
    // preserves times) leave the mtime as it was; the size still changes.
    let (_api, dir, exporter) = exporter_with_password("reload-same-mtime", "old-password").await;
    let with = |password| as_prometheus(&exporter, password);
    assert_eq!(status_of(with("old-password")).await, Ok(200));

    let config = dir.file("web.yml");
    let unchanged = mtime(&config);
    let rewritten = format!(
        "# rotated\n{}",
        basic_auth_config("prometheus", "new-password")
    );
    std::fs::write(&config, rewritten).expect("rewrite the config");
    set_mtime(&config, unchanged);

    assert_eq!(
        settles_on(Ok(200), || with("new-password")).await,
        Ok(200),
        "a rewritten web config (new size, same mtime) was not reloaded: the old password stays in force\n{}",
        exporter.logs().tail(10)
    );
}

#[tokio::test]
async fn a_broken_rewrite_keeps_the_last_good_settings_in_force() {
    let (_api, dir, exporter) = exporter_with_password("reload-broken", "s3cret").await;
    let metrics = format!("{}/metrics", exporter.url());

    dir.write("web.yml", "basic_auth_users: [ this is not\n");
    exporter
        .logs()
        .wait_for(&["level=warn", "web config"], Duration::from_secs(5))
        .await;

    assert_eq!(
        status_of(http_client().get(&metrics)).await,
        Ok(401),
        "a broken file must not switch auth off"
    );
    assert_eq!(status_of(as_prometheus(&exporter, "s3cret")).await, Ok(200));
    exporter.assert_healthy().await;
}

#[tokio::test]
async fn a_rotated_certificate_from_a_new_ca_serves_new_connections() {
    let old_ca = Ca::new("old CA");
    let (_api, dir, exporter) = tls_exporter("rotate", &old_ca, "").await;
    let url = https_url(&exporter, "/metrics");
    assert_eq!(
        status_of(tls_client(&old_ca.pem(), None).get(&url)).await,
        Ok(200),
        "{}",
        exporter.logs().tail(10)
    );

    let new_ca = Ca::new("new CA");
    write_server_files(&dir, &new_ca);

    assert_eq!(
        settles_on(Ok(200), || tls_client(&new_ca.pem(), None).get(&url)).await,
        Ok(200),
        "a client trusting only the new CA must get the rotated certificate\n{}",
        exporter.logs().tail(10)
    );
    let old = status_of(tls_client(&old_ca.pem(), None).get(&url)).await;
    assert!(old.is_err(), "the old certificate is still served: {old:?}");
}

#[tokio::test]
async fn a_web_config_caught_empty_mid_rewrite_switches_neither_tls_nor_auth_off() {
    // An editor or a config tool that truncates before writing leaves the
    // file empty for a moment; a connection arriving then must not be
    // served in plain text or without a password.
    let ca = Ca::new("test CA");
    let auth = basic_auth_config("prometheus", "s3cret");
    let (_api, dir, exporter) = tls_exporter("emptied", &ca, &auth).await;
    let https = https_url(&exporter, "/metrics");
    let authorized = || {
        tls_client(&ca.pem(), None)
            .get(&https)
            .basic_auth("prometheus", Some("s3cret"))
    };
    assert_eq!(status_of(authorized()).await, Ok(200));

    dir.write("web.yml", "");
    exporter
        .logs()
        .wait_for(&["level=warn", "keeping TLS on"], Duration::from_secs(5))
        .await;

    let plain = status_of(http_client().get(format!("{}/metrics", exporter.url()))).await;
    assert!(
        plain.is_err() || plain == Ok(401),
        "with the web config caught empty, plain HTTP without a password got {plain:?}: TLS and basic auth were switched off\n{}",
        exporter.logs().tail(10)
    );
    let unauthenticated = status_of(tls_client(&ca.pem(), None).get(&https)).await;
    assert!(
        unauthenticated.is_err() || unauthenticated == Ok(401),
        "with the web config caught empty, a scrape without a password got {unauthenticated:?}"
    );
}
