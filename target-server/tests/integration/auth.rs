//! `/login` → token → protected resources, and every way to be refused.

use http::{Method, StatusCode};

use crate::client::{request, spawn_target, H1};

const JSON: (&str, &str) = ("content-type", "application/json");
const FORM: (&str, &str) = ("content-type", "application/x-www-form-urlencoded");

async fn login(conn: &mut H1, body: &str) -> String {
    let reply = conn
        .send(request(Method::POST, "/login", &[JSON], body.to_owned()))
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    reply.json()["token"].as_str().expect("token").to_owned()
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

#[tokio::test]
async fn login_then_access_protected_resources() {
    let target = spawn_target().await;
    let mut conn = H1::connect(target.addr).await;
    let token = login(&mut conn, r#"{"username":"alice","password":"secret"}"#).await;
    assert!(!token.is_empty());

    let auth = bearer(&token);
    let account = conn
        .send(request(
            Method::GET,
            "/account",
            &[("authorization", &auth)],
            "",
        ))
        .await;
    assert_eq!(account.status, StatusCode::OK);
    assert_eq!(account.json()["username"], "alice");

    let orders = conn
        .send(request(
            Method::GET,
            "/orders",
            &[("authorization", &auth)],
            "",
        ))
        .await;
    assert_eq!(orders.status, StatusCode::OK);
    let doc = orders.json();
    assert_eq!(doc["username"], "alice");
    assert_eq!(doc["orders"].as_array().map(Vec::len), Some(3));

    // Deterministic per user; different users get different tokens.
    assert_eq!(login(&mut conn, r#"{"username":"alice"}"#).await, token);
    let bob = login(&mut conn, r#"{"username":"bob","password":""}"#).await;
    assert_ne!(bob, token);
    let bob_account = conn
        .send(request(
            Method::GET,
            "/account",
            &[("authorization", &bearer(&bob))],
            "",
        ))
        .await;
    assert_eq!(bob_account.json()["username"], "bob");
}

#[tokio::test]
async fn form_login_works() {
    let target = spawn_target().await;
    let mut conn = H1::connect(target.addr).await;
    let reply = conn
        .send(request(
            Method::POST,
            "/login",
            &[FORM],
            "username=carol+c&password=p%26w",
        ))
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    let token = reply.json()["token"].as_str().expect("token").to_owned();
    let auth = bearer(&token);
    let account = conn
        .send(request(
            Method::GET,
            "/account",
            &[("authorization", &auth)],
            "",
        ))
        .await;
    assert_eq!(account.json()["username"], "carol c");
}

#[tokio::test]
async fn protected_resources_refuse_missing_or_bad_tokens() {
    let target = spawn_target().await;
    let other = spawn_target().await;
    let mut conn = H1::connect(target.addr).await;
    let mut other_conn = H1::connect(other.addr).await;
    let foreign = login(&mut other_conn, r#"{"username":"alice"}"#).await;
    let good = login(&mut conn, r#"{"username":"alice"}"#).await;
    // Change the last digit of the MAC (to another digit: the original may be '0').
    let last = if good.ends_with('0') { '1' } else { '0' };
    let tampered = format!("{}{last}", &good[..good.len() - 1]);
    assert_ne!(tampered, good);

    let bad_headers = [
        None,
        Some("Bearer".to_owned()),
        Some("Bearer nonsense".to_owned()),
        Some(format!("Basic {good}")),
        Some(bearer(&tampered)),
        Some(bearer(&foreign)),
    ];
    for path in ["/account", "/orders"] {
        for header in &bad_headers {
            let headers: Vec<(&str, &str)> = header
                .as_deref()
                .map(|h| ("authorization", h))
                .into_iter()
                .collect();
            let reply = conn.send(request(Method::GET, path, &headers, "")).await;
            assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{path} {header:?}");
            assert_eq!(reply.header("www-authenticate"), "Bearer");
            assert_eq!(reply.json()["status"], 401);
        }
    }
    let post = conn
        .send(request(
            Method::POST,
            "/account",
            &[("authorization", &bearer(&good))],
            "",
        ))
        .await;
    assert_eq!(post.status, StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn login_refuses_bad_credentials() {
    let target = spawn_target().await;
    let mut conn = H1::connect(target.addr).await;
    for body in [r#"{"username":""}"#, r#"{"password":"x"}"#, "{}", ""] {
        let reply = conn
            .send(request(Method::POST, "/login", &[JSON], body))
            .await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{body:?}");
        assert!(reply.json()["error"].is_string());
    }
    let empty_form = conn
        .send(request(
            Method::POST,
            "/login",
            &[FORM],
            "username=&password=x",
        ))
        .await;
    assert_eq!(empty_form.status, StatusCode::UNAUTHORIZED);

    let malformed = conn
        .send(request(Method::POST, "/login", &[JSON], "{not json"))
        .await;
    assert_eq!(malformed.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        conn.get("/login").await.status,
        StatusCode::METHOD_NOT_ALLOWED
    );
    // Last: the server may close the connection after refusing a huge body.
    let huge = conn
        .send(request(
            Method::POST,
            "/login",
            &[JSON],
            vec![b' '; 100 * 1024],
        ))
        .await;
    assert_eq!(huge.status, StatusCode::PAYLOAD_TOO_LARGE);
}
